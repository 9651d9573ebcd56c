// Small formatting helpers shared by the views.

/** statusLabel is how an execution status reads. */
export function statusLabel(s) {
  return {
    idle: 'idle',
    running: 'running',
    paused: 'paused',
    waiting_for_confirmation: 'waiting for you',
    finished: 'finished',
    error: 'error',
    stuck: 'stuck',
  }[s] || s || 'unknown';
}

/** sandboxLabel is how a sandbox state reads. */
export function sandboxLabel(s) {
  return {
    pulling: 'fetching image',
    creating: 'creating',
    starting: 'starting',
    running: 'ready',
    paused: 'paused',
    stopped: 'stopped',
    exited: 'stopped',
    removed: 'removed',
    error: 'failed',
    none: 'not started',
    '': 'not started',
  }[s] ?? s;
}

/** tone is the colour family of a status: ok, busy, warn, err or idle. */
export function tone(s) {
  switch (s) {
    case 'running':
    case 'pulling':
    case 'creating':
    case 'starting':
      return 'busy';
    case 'finished':
      return 'ok';
    case 'waiting_for_confirmation':
    case 'paused':
    case 'stuck':
      return 'warn';
    case 'error':
      return 'err';
    default:
      return 'idle';
  }
}

/** riskTone is the colour family of a security risk. */
export function riskTone(r) {
  return { LOW: 'ok', MEDIUM: 'warn', HIGH: 'err' }[r] || 'idle';
}

/** size formats a byte count. */
export function size(n) {
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) return '';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/** clock formats a timestamp as local time of day (HH:MM:SS). */
export function clock(ts) {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** ago says how long before now a timestamp is, roughly. */
export function ago(ts, now = Date.now()) {
  const t = new Date(ts).getTime();
  if (Number.isNaN(t)) return '';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** truncate cuts text to n characters, marking the cut. */
export function truncate(s, n) {
  s = String(s ?? '');
  return s.length <= n ? s : s.slice(0, Math.max(0, n - 1)) + '…';
}

/** joinPath joins a folder and a name, POSIX style. */
export function joinPath(dir, name) {
  if (!dir) return name;
  return dir.replace(/\/+$/, '') + '/' + name.replace(/^\/+/, '');
}

/** parentPath is the folder holding a path ("/" for "/x"). */
export function parentPath(p) {
  const clean = p.replace(/\/+$/, '');
  const i = clean.lastIndexOf('/');
  return i <= 0 ? '/' : clean.slice(0, i);
}

/** crumbs splits a path into breadcrumbs from root: [{name, path}]. */
export function crumbs(p, root = '/') {
  const out = [];
  const r = root.replace(/\/+$/, '') || '/';
  if (!p.startsWith(r)) return [{ name: p, path: p }];
  out.push({ name: r, path: r });
  const rest = p.slice(r.length).split('/').filter(Boolean);
  let cur = r;
  for (const part of rest) {
    cur = joinPath(cur, part);
    out.push({ name: part, path: cur });
  }
  return out;
}

/** sortEntries orders a listing: folders first, then by name. */
export function sortEntries(entries) {
  return [...entries].sort((a, b) => {
    const da = a.type === 'dir' ? 0 : 1;
    const db = b.type === 'dir' ? 0 : 1;
    return da - db || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  });
}
