/* Cited links point into content tabs (models/resnet50/#cat, #cat--explanations). Material
   selects a tab only when the link names the tab itself, so when the address names an element
   inside a hidden tab, select that tab and scroll to the element. */
(function () {
  "use strict";

  function revealTarget() {
    const id = decodeURIComponent(window.location.hash.slice(1));
    const target = id && document.getElementById(id);
    if (!target) return;
    let block = target.closest(".tabbed-block");
    let selected = false;
    while (block) {
      const set = block.closest(".tabbed-set");
      const blocks = Array.from(block.parentElement.children);
      const input = set.querySelectorAll(":scope > input")[blocks.indexOf(block)];
      if (input && !input.checked) {
        input.click();
        selected = true;
      }
      block = set.parentElement.closest(".tabbed-block");
    }
    if (selected) target.scrollIntoView();
  }

  window.addEventListener("hashchange", revealTarget);
  if (typeof document$ !== "undefined") {
    document$.subscribe(revealTarget);
  } else {
    document.addEventListener("DOMContentLoaded", revealTarget);
  }
})();
