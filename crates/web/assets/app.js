// Progressive enhancement only: every page works without this file.
// Keys: "/" focuses search, j/k move through results, Enter opens the selected one.
(function () {
  "use strict";
  var hits = Array.prototype.slice.call(document.querySelectorAll(".hit"));
  var at = -1;
  function select(i) {
    if (!hits.length) return;
    if (at >= 0) hits[at].classList.remove("sel");
    at = Math.max(0, Math.min(hits.length - 1, i));
    hits[at].classList.add("sel");
    hits[at].scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) return;
    if (e.metaKey || e.ctrlKey || e.altKey) return;
    if (e.key === "/") { e.preventDefault(); var q = document.getElementById("q"); if (q) q.focus(); }
    else if (e.key === "j") select(at + 1);
    else if (e.key === "k") select(at - 1);
    else if (e.key === "Enter" && at >= 0) { var a = hits[at].querySelector("a.title"); if (a) window.location = a.href; }
  });
})();
