// boot.js loads the page once more when its modules did not load:
// Chromium drops the requests in flight whenever a network interface of
// the machine comes or goes (net::ERR_NETWORK_CHANGED), as the engine's do
// for each sandbox it starts, and a module that failed to load is not
// fetched again on its own. app.js sets window.gohandsStarted once it
// runs. A plain script, loaded before the modules, tried at most three
// times in a row.
(function () {
  var KEY = 'gohands.bootReloads';
  setTimeout(function () {
    var n = 0;
    try {
      if (window.gohandsStarted) {
        sessionStorage.removeItem(KEY);
        return;
      }
      n = Number(sessionStorage.getItem(KEY) || 0);
      if (n >= 3) return;
      sessionStorage.setItem(KEY, String(n + 1));
    } catch (e) {
      return; // no session storage: no loop guard, so no reload
    }
    location.reload();
  }, 8000);
})();
