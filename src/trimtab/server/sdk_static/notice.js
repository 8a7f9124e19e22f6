/* trimtab maintenance notice: one tag shows trimtab's notice on any page.
   <script src="https://trimtab.example/sdk/notice.js" data-project="shop"
           data-env="production" data-mode="banner|overlay" data-poll="30"></script>
   Text is set with textContent only, never parsed as HTML. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var project = script.getAttribute("data-project");
  var env = script.getAttribute("data-env") || "production";
  var mode = script.getAttribute("data-mode") === "overlay" ? "overlay" : "banner";
  var poll = Math.max(5, parseInt(script.getAttribute("data-poll") || "30", 10) || 30);
  if (!project) { return; }
  var base = script.src.replace(/\/sdk\/notice\.js(\?.*)?$/, "");
  var endpoint = base + "/api/v1/maintenance/" + encodeURIComponent(project) + "/" +
    encodeURIComponent(env);
  var box = null;

  function when(iso) {
    if (!iso) { return ""; }
    var at = new Date(iso);
    if (isNaN(at.getTime())) { return ""; }
    return " Expected back at " + at.toLocaleString(undefined, {
      hour: "2-digit", minute: "2-digit", month: "short", day: "numeric", timeZoneName: "short"
    }) + ".";
  }

  function show(state) {
    if (!box) {
      box = document.createElement("div");
      box.setAttribute("role", mode === "overlay" ? "alertdialog" : "status");
      box.setAttribute("data-trimtab-notice", mode);
      var s = box.style;
      s.position = "fixed"; s.left = "0"; s.right = "0"; s.zIndex = "2147483647";
      s.font = "15px/1.5 system-ui, sans-serif"; s.color = "#1f2328";
      if (mode === "overlay") {
        s.top = "0"; s.bottom = "0"; s.background = "rgba(255,255,255,0.97)";
        s.display = "flex"; s.alignItems = "center"; s.justifyContent = "center";
        s.padding = "2em"; s.textAlign = "center"; s.fontSize = "18px";
      } else {
        s.top = "0"; s.background = "#fff8c5"; s.borderBottom = "1px solid #d4a72c";
        s.padding = "0.6em 1em"; s.textAlign = "center";
      }
      document.body.appendChild(box);
    }
    box.textContent = (state.message || "We will be back shortly.") + when(state.expected_end);
  }

  function hide() {
    if (box && box.parentNode) { box.parentNode.removeChild(box); }
    box = null;
  }

  function check() {
    fetch(endpoint, { credentials: "omit", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (state) { if (state && state.active) { show(state); } else { hide(); } })
      .catch(function () { /* trimtab unreachable: leave the page as it is */ });
  }

  function start() { check(); setInterval(check, poll * 1000); }
  if (document.body) { start(); } else { document.addEventListener("DOMContentLoaded", start); }
})();
