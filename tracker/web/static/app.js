// Small progressive enhancements; every page works without them.
// j / k (or n / p): next / previous change on a diff page; "Load image" buttons show a lead
// image only when the reader asks (its site learns of the visit then, not before).
(function () {
  "use strict";
  function changes() {
    return Array.prototype.slice.call(document.querySelectorAll(".block[data-kind]"));
  }
  function current(blocks) {
    var active = document.activeElement;
    var index = blocks.indexOf(active);
    if (index >= 0) { return index; }
    var hash = window.location.hash.slice(1);
    for (var i = 0; i < blocks.length; i++) { if (blocks[i].id === hash) { return i; } }
    return -1;
  }
  function go(step) {
    var blocks = changes();
    if (!blocks.length) { return; }
    var next = Math.min(Math.max(current(blocks) + step, 0), blocks.length - 1);
    var block = blocks[next];
    block.focus();
    block.scrollIntoView({block: "start"});
    if (window.history && window.history.replaceState) {
      window.history.replaceState(null, "", "#" + block.id);
    }
  }
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) { return; }
    var target = event.target;
    if (target && /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName)) { return; }
    if (event.key === "j" || event.key === "n") { go(1); event.preventDefault(); }
    if (event.key === "k" || event.key === "p") { go(-1); event.preventDefault(); }
  });
  document.addEventListener("click", function (event) {
    var button = event.target;
    if (!button || !button.classList || !button.classList.contains("load-image")) { return; }
    var src = button.getAttribute("data-src") || "";
    if (!/^https?:\/\//i.test(src)) { return; }
    var image = document.createElement("img");
    image.className = "lead";
    image.alt = "lead image";
    image.referrerPolicy = "no-referrer";
    image.src = src;
    button.replaceWith(image);
  });
})();
