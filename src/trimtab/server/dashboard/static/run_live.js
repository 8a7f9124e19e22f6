// Live progress for a page region marked `data-live-run` (a deploy run while it runs): every 2 s
// fetch the page again and swap in the region's new content, so forms outside it keep what was
// typed. When the region's `data-state` changes the whole page reloads, since the actions on
// offer differ per state. Without JavaScript the page's <noscript> meta refresh does the job.
(function () {
  "use strict";
  var region = document.querySelector("[data-live-run]");
  if (!region) return;
  var busy = false;
  function tick() {
    if (busy) return;
    var focused = document.activeElement;
    if (focused && region.contains(focused) && focused.tagName !== "BUTTON") return;
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(region.id);
        if (!fresh || fresh.dataset.state !== region.dataset.state) {
          window.clearInterval(timer);
          window.location.reload();
          return;
        }
        region.innerHTML = fresh.innerHTML;
      })
      .catch(function () { /* try again at the next tick */ })
      .finally(function () { busy = false; });
  }
  var timer = window.setInterval(tick, 2000);
})();
