/**
 * A short tone when a notification arrives, made with the Web Audio API (no audio file): a rising two-note chime
 * for a live or video chat request (someone waits for an answer), one soft low note for a new chat initiated.
 * The agent can mute it (remembered in localStorage). Browsers keep audio suspended until the page gets a user
 * gesture, so the context is resumed on the first click or key press.
 */

/** @typedef {"new_chat_initiated" | "live_chat_request" | "video_chat_request"} Kind */

const KEY = "console.sound.muted";

/** The notes of each kind: [frequency in Hz, start offset in s, length in s]. */
const TONES = /** @type {Record<Kind, Array<[number, number, number]>>} */ ({
  live_chat_request: [[880, 0, 0.14], [1318.5, 0.16, 0.2]],
  video_chat_request: [[987.8, 0, 0.14], [1479.98, 0.16, 0.2]],
  new_chat_initiated: [[523.25, 0, 0.18]],
});

export class Sound {
  /** @param {{button: HTMLButtonElement, storage?: Storage | null}} options */
  constructor({ button, storage = safeStorage() }) {
    this.button = button;
    this.storage = storage;
    /** @type {AudioContext | null} */
    this.context = null;
    this.muted = storage?.getItem(KEY) === "1";
    this.render();
    button.addEventListener("click", () => this.setMuted(!this.muted));
    const unlock = () => {
      this.audio()?.resume().catch(() => undefined);
      document.removeEventListener("click", unlock, true);
      document.removeEventListener("keydown", unlock, true);
    };
    document.addEventListener("click", unlock, true);
    document.addEventListener("keydown", unlock, true);
  }

  /** @param {boolean} muted */
  setMuted(muted) {
    this.muted = muted;
    try { this.storage?.setItem(KEY, muted ? "1" : "0"); } catch { /* storage full or blocked: this page only */ }
    this.render();
  }

  render() {
    // A toggle keeps its name; aria-pressed (and the look) says whether the sounds are muted.
    this.button.setAttribute("aria-pressed", String(this.muted));
    this.button.textContent = "Mute sounds";
    this.button.title = this.muted ? "Notification sounds are muted. Click to hear them again." : "Click to mute notification sounds.";
  }

  /** The page's AudioContext, made on first use; null where the browser has no Web Audio. */
  audio() {
    if (this.context) return this.context;
    const Context = globalThis.AudioContext ?? /** @type {any} */ (globalThis).webkitAudioContext;
    if (!Context) return null;
    try {
      this.context = /** @type {AudioContext} */ (new Context());
    } catch {
      return null;
    }
    return this.context;
  }

  /** Play the tone of a notification's kind (nothing when muted). @param {string} kind */
  play(kind) {
    if (this.muted) return;
    const notes = TONES[/** @type {Kind} */ (kind)];
    const context = notes ? this.audio() : null;
    if (!notes || !context) return;
    if (context.state === "suspended") context.resume().catch(() => undefined);
    const now = context.currentTime;
    for (const [frequency, offset, length] of notes) {
      const oscillator = context.createOscillator();
      const gain = context.createGain();
      oscillator.type = "sine";
      oscillator.frequency.value = frequency;
      // A quick fade in and out: no click at either end.
      gain.gain.setValueAtTime(0.0001, now + offset);
      gain.gain.exponentialRampToValueAtTime(0.2, now + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + offset + length);
      oscillator.connect(gain).connect(context.destination);
      oscillator.start(now + offset);
      oscillator.stop(now + offset + length + 0.02);
    }
  }
}

/** localStorage, or null where the page may not touch it. */
function safeStorage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}
