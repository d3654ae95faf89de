/* The embed tag's classic script: finds its own tag, then imports the widget's modules from the same
 * versioned folder and mounts the launcher. It defines no global and runs once per page. */
(function () {
  "use strict";
  var script = /** @type {HTMLScriptElement | null} */ (document.currentScript);
  if (!script || !script.src) return;
  var key = script.getAttribute("data-key");
  if (!key) {
    console.error("Live chat widget: the script tag needs data-key=\"PUBLIC_KEY\".");
    return;
  }
  var base = new URL(".", script.src).href;
  var options = { key: key, identity: script.getAttribute("data-identity"), base: base };
  import(base + "widget/widget.js").then(function (widget) {
    return widget.mount(options);
  }).catch(function (error) {
    console.error("Live chat widget failed to start:", error);
  });
})();
