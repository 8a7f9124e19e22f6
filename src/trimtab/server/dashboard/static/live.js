/* Live pages. An element marked data-live-project="<slug>" carries htmx attributes that re-fetch
 * the page and swap that element (hx-trigger="trimtab:changed from:body"; the templates' `live`
 * macro writes them). This file listens to the project's change stream (GET /api/v1/stream:
 * server-sent events, authorised by the session cookie like any page) and fires
 * trimtab:changed on each event of the kinds the element names in data-live-kinds
 * (space-separated; flags.changed when it names none). Without JavaScript the page is the
 * same, only not live. Kept in a file: the CSP allows no inline script. */
(function () {
  "use strict";
  var DEFAULT_KINDS = ["flags.changed"];

  function start() {
    var live = document.querySelector("[data-live-project]");
    if (!live || !window.EventSource || !window.htmx) {
      return;
    }
    var named = (live.getAttribute("data-live-kinds") || "").split(/\s+/).filter(Boolean);
    var kinds = named.length ? named : DEFAULT_KINDS;
    var url = "/api/v1/stream?project=" + encodeURIComponent(live.getAttribute("data-live-project")) +
      "&kinds=" + encodeURIComponent(kinds.join(","));
    var source = new EventSource(url);
    kinds.forEach(function (kind) {
      source.addEventListener(kind, function () {
        window.htmx.trigger(document.body, "trimtab:changed");
      });
    });
    // Once the page is being left (a form posted, a link followed), stop listening and start
    // no refresh: the new page is on its way, and a refresh would only be cut off by it.
    var leaving = false;
    function leave() {
      leaving = true;
      source.close();
    }
    document.addEventListener("submit", leave);
    window.addEventListener("beforeunload", leave);
    window.addEventListener("pagehide", leave);
    document.body.addEventListener("htmx:beforeRequest", function (event) {
      if (leaving) {
        event.preventDefault();
      }
    });
    document.body.setAttribute("data-live", "connecting");
    source.addEventListener("open", function () { document.body.setAttribute("data-live", "open"); });
  }

  // Back to a page kept in the back/forward cache: its stream was closed when it was left,
  // and what it shows may be old, so load it afresh.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && document.querySelector("[data-live-project]")) {
      window.location.reload();
    }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
