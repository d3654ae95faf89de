/**
 * Clean browser primitives for the widget, taken from a fresh about:blank iframe's realm.
 *
 * A customer's page may replace window.fetch, WebSocket or RTCPeerConnection (analytics wrappers, polyfills,
 * or plain breakage). A new same-origin about:blank frame gets its own untouched copies; its fetch sends
 * requests with the page's origin, as the API's allowed origins expect. The frame lives inside the widget's
 * shadow root, hidden, for as long as the widget does.
 */

/**
 * @typedef {object} Realm
 * @property {typeof fetch} fetch
 * @property {typeof WebSocket} WebSocket
 * @property {typeof RTCPeerConnection | undefined} RTCPeerConnection
 * @property {MediaDevices | undefined} mediaDevices
 * @property {typeof FormData} FormData
 * @property {Storage | null} localStorage
 * @property {(callback: () => void, ms: number) => number} setTimeout
 * @property {(id: number) => void} clearTimeout
 */

/**
 * @param {ParentNode} container where the hidden frame lives (the widget's shadow root)
 * @returns {Realm}
 */
export function cleanRealm(container) {
  const frame = document.createElement("iframe");
  frame.setAttribute("aria-hidden", "true");
  frame.tabIndex = -1;
  frame.title = "";
  frame.hidden = true;
  frame.src = "about:blank";
  container.appendChild(frame);
  const win = /** @type {(Window & typeof globalThis) | null} */ (frame.contentWindow);
  return primitivesOf(win || window);
}

/**
 * The primitives of a window (the frame's, or the page's own when no frame could be made); storage is always the
 * page's (same origin: the frame's would be the same object's twin).
 * @param {Window & typeof globalThis} w
 * @returns {Realm}
 */
function primitivesOf(w) {
  /** @type {Storage | null} */
  let storage = null;
  try {
    storage = window.localStorage;
  } catch {
    storage = null;
  }
  return {
    fetch: w.fetch.bind(w),
    WebSocket: w.WebSocket,
    RTCPeerConnection: w.RTCPeerConnection,
    mediaDevices: w.navigator.mediaDevices,
    FormData: w.FormData,
    localStorage: storage,
    setTimeout: (callback, ms) => w.setTimeout(callback, ms),
    clearTimeout: (id) => w.clearTimeout(id),
  };
}
