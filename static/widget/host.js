/**
 * The widget's host element: an open shadow root the page's CSS cannot reach, kept visible on any page.
 *
 * What a page like `* { display: none !important }` needs, as probed in Chromium: inline `!important`
 * declarations on the host beat any author rule; the host hangs from <html> (not <body>, which the page may
 * hide); when <html> itself computes to display:none, it gets an inline `display: block !important` (the
 * page's own elements stay as hidden as the page made them); and the host goes to the top layer with
 * popover="manual" + showPopover(), so no z-index or transform of the page can cover or clip it.
 */

const HOST_STYLE = {
  display: "block", visibility: "visible", opacity: "1", position: "fixed", inset: "auto 16px 16px auto",
  margin: "0", padding: "0", border: "0", background: "transparent", width: "auto", height: "auto",
  "max-width": "calc(100vw - 32px)", "max-height": "calc(100vh - 32px)", overflow: "visible",
  "z-index": "2147483647", transform: "none", filter: "none", "clip-path": "none", contain: "none",
  "pointer-events": "auto", "color-scheme": "light", float: "none", "font-size": "16px",
};

/**
 * @returns {{host: HTMLElement, root: ShadowRoot, reveal: () => void}}
 */
export function createHost() {
  const host = document.createElement("div");
  host.setAttribute("data-livechat-widget", "");
  const root = host.attachShadow({ mode: "open" });
  const apply = () => {
    for (const [name, value] of Object.entries(HOST_STYLE)) {
      if (host.style.getPropertyValue(name) !== value || host.style.getPropertyPriority(name) !== "important") {
        host.style.setProperty(name, value, "important");
      }
    }
  };
  apply();
  document.documentElement.appendChild(host);
  const reveal = () => {
    const html = document.documentElement;
    if (getComputedStyle(html).display === "none") html.style.setProperty("display", "block", "important");
    if (!host.isConnected) html.appendChild(host);
    apply();
    if ("showPopover" in host) {
      try {
        if (!host.hasAttribute("popover")) host.setAttribute("popover", "manual");
        if (!host.matches(":popover-open")) host.showPopover();
      } catch {
        /* not in the top layer: the fixed position and z-index still hold */
      }
    }
  };
  reveal();
  // A page (or its framework) that rewrites the host's style attribute or drops the host gets it back.
  new MutationObserver(() => {
    if (!host.isConnected || host.style.getPropertyPriority("display") !== "important") reveal();
  }).observe(document.documentElement, { childList: true, attributes: true, subtree: false, attributeFilter: ["style"] });
  new MutationObserver(() => reveal()).observe(host, { attributes: true, attributeFilter: ["style", "popover"] });
  return { host, root, reveal };
}
