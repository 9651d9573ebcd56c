// The preview pane: a page of the workspace, or of a server the agent
// started in the sandbox, in a frame.
//
// The agent wrote what the frame shows: the frame is sandboxed without
// allow-same-origin (and the server sends a sandbox policy too), so the
// page runs with an origin of its own and can read neither this page's
// key nor its storage. Such a page's requests for its own files are
// cross-site and carry no cookie: the frame is pointed at the
// conversation's preview URLs, whose path holds a token for this
// conversation's workspace and ports only, and relative links keep it.
// The frame is made here, not through vdom, whose elements are only the
// inert ones.

import { $, app } from './ui.js';

const FRAME_SANDBOX = 'allow-scripts allow-forms allow-popups allow-modals allow-downloads';

export async function showPreview(c, target) {
  c.previewTarget = target;
  const state = $('#preview-state');
  state.textContent = '';
  if (!c.previewURLs) {
    try {
      c.previewURLs = await app.api.preview(c.id);
    } catch (err) {
      if (app.conv === c) state.textContent = 'The preview cannot be shown: ' + err.message;
      return;
    }
  }
  // A later call (another target asked for while this one waited for
  // the URLs) has the last word.
  if (app.conv !== c || c.previewTarget !== target) return;
  // A new frame for every target: pointing a frame whose first page is
  // still loading at another URL can leave it on the first (Chromium,
  // under load, commits the navigation it had started), and the user
  // sees the wrong page.
  const frame = document.createElement('iframe');
  frame.id = 'preview-frame';
  frame.className = 'preview-frame';
  frame.title = 'Preview';
  frame.setAttribute('sandbox', FRAME_SANDBOX);
  frame.setAttribute('referrerpolicy', 'no-referrer');
  frame.src = app.api.previewURL(c.previewURLs, target);
  $('#preview-box').replaceChildren(frame);
}
