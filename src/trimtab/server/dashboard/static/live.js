/* Live pages. An element marked data-live-project="<slug>" carries htmx attributes that re-fetch
 * the page and swap that element (hx-trigger="trimtab:changed from:body"). This file listens to
 * the project's change stream (GET /api/v1/stream: server-sent events, authorised by the
 * session cookie like any page) and fires trimtab:changed on each flags.changed event. Without
 * JavaScript the page is the same, only not live. Kept in a file: the CSP allows no inline
 * script. */
(function () {
  "use strict";
  var KINDS = ["flags.changed"];

  function start() {
    var live = document.querySelector("[data-live-project]");
    if (!live || !window.EventSource || !window.htmx) {
      return;
    }
    var url = "/api/v1/stream?project=" + encodeURIComponent(live.getAttribute("data-live-project")) +
      "&kinds=" + encodeURIComponent(KINDS.join(","));
    var source = new EventSource(url);
    KINDS.forEach(function (kind) {
      source.addEventListener(kind, function () {
        window.htmx.trigger(document.body, "trimtab:changed");
      });
    });
    // Close before leaving, so the browser does not count the open stream as a failed request.
    window.addEventListener("pagehide", function () { source.close(); });
    document.body.setAttribute("data-live", "connecting");
    source.addEventListener("open", function () { document.body.setAttribute("data-live", "open"); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
