/** The widget's stylesheet, adopted by its shadow root (a constructed sheet: no inline <style>, no CSP entry). */
export const CSS = `
:host { all: initial; }
*, *::before, *::after { box-sizing: border-box; }
[hidden] { display: none !important; }
.widget { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
  display: flex; flex-direction: column; align-items: flex-end; gap: 12px; }
button, input, textarea, select { font: inherit; color: inherit; }
:focus-visible { outline: 3px solid #0b57d0; outline-offset: 2px; }
.sr-only { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
.launcher { border: 0; border-radius: 999px; background: #0b57d0; color: #fff; padding: 12px 20px;
  font-weight: 600; cursor: pointer; box-shadow: 0 4px 14px rgb(0 0 0 / 25%); }
.launcher:hover { background: #0842a0; }
.panel { width: min(380px, calc(100vw - 32px)); height: min(600px, calc(100vh - 100px)); background: #fff;
  border: 1px solid #d0d7de; border-radius: 12px; box-shadow: 0 8px 28px rgb(0 0 0 / 25%);
  display: flex; flex-direction: column; overflow: hidden; }
.head { display: flex; align-items: center; gap: 8px; padding: 10px 12px; background: #0b57d0; color: #fff; }
.head h2 { font-size: 16px; margin: 0; flex: 1; }
.head .agent { font-size: 13px; }
.head button { background: transparent; border: 1px solid #fff; color: #fff; border-radius: 6px;
  padding: 2px 10px; cursor: pointer; }
.note { margin: 0; padding: 6px 12px; font-size: 13px; background: #fff8c5; color: #3b2300; }
.note.offline { background: #ffebe9; color: #67060c; }
.messages { list-style: none; margin: 0; padding: 12px; flex: 1; overflow-y: auto; display: flex;
  flex-direction: column; gap: 8px; }
.message { max-width: 85%; padding: 8px 10px; border-radius: 10px; background: #eef1f4; color: #1f2328;
  overflow-wrap: anywhere; white-space: pre-wrap; }
.message[data-author=visitor] { align-self: flex-end; background: #0b57d0; color: #fff; }
.message[data-author=visitor] a { color: #fff; }
.message[data-author=system] { align-self: center; background: transparent; color: #57606a; font-size: 13px;
  text-align: center; }
.message[data-pending] { opacity: .8; }
.attachments { list-style: none; padding: 0; margin: 4px 0 0; }
.message .who { display: block; font-size: 12px; font-weight: 600; color: #424a53; }
.message[data-author=visitor] .who { color: #fff; }
.message .meta { display: block; font-size: 11px; color: #57606a; margin-top: 2px; }
.message[data-author=visitor] .meta { color: #fff; }
.message a { color: #0550ae; }
.buttons { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 8px; white-space: normal; }
.buttons button, .btn { border: 1px solid #0b57d0; background: #fff; color: #0b57d0; border-radius: 6px;
  padding: 5px 12px; cursor: pointer; }
.buttons button[data-style=primary], .btn.primary { background: #0b57d0; color: #fff; }
.buttons button:disabled { border-color: #8c959f; color: #57606a; background: #f6f8fa; cursor: default; }
form.card { display: flex; flex-direction: column; gap: 6px; margin-top: 8px; white-space: normal; }
form.card .field { display: flex; flex-direction: column; gap: 2px; }
form.card label { font-size: 13px; font-weight: 600; }
form.card input, form.card textarea, form.card select { border: 1px solid #6e7781; border-radius: 6px; padding: 6px;
  background: #fff; }
.error { color: #a40e26; font-size: 13px; margin: 0; }
.status { padding: 4px 12px; font-size: 13px; color: #1f2328; background: #ddf4ff; margin: 0; }
.typing { padding: 2px 12px; font-size: 13px; color: #424a53; margin: 0; font-style: italic; }
.after { padding: 8px 12px; border-top: 1px solid #d0d7de; display: flex; flex-direction: column; gap: 6px; }
.stars { display: flex; gap: 4px; }
.stars button { min-width: 36px; }
.stars button[aria-pressed=true] { background: #0b57d0; color: #fff; }
.call-slot:empty { display: none; }
.call-slot { padding: 8px; border-top: 1px solid #d0d7de; }
.call-slot video { max-width: 100%; }
.composer { display: flex; gap: 6px; padding: 8px; border-top: 1px solid #d0d7de; align-items: flex-end; }
.composer textarea { flex: 1; resize: none; border: 1px solid #6e7781; border-radius: 6px; padding: 6px;
  min-height: 38px; max-height: 120px; }
.composer .attach { border: 1px solid #6e7781; background: #fff; border-radius: 6px; padding: 6px 8px; cursor: pointer; }
.composer .send { border: 0; background: #0b57d0; color: #fff; border-radius: 6px; padding: 8px 12px; cursor: pointer; }
.composer .send:disabled { background: #8c959f; }
.files { padding: 0 8px; font-size: 13px; }
`;
