// The day a reader cites a page is the day they read it: the "Cite this page" box and its
// BibTeX (`urldate`) are built with a placeholder, which this replaces with the browser's
// date, so the built files stay the same in every build. The copy button copies the date too.
(function () {
  "use strict";

  var PLACEHOLDER = "YYYY-MM-DD";

  function today() {
    var now = new Date();
    var pad = function (n) { return String(n).padStart(2, "0"); };
    return now.getFullYear() + "-" + pad(now.getMonth() + 1) + "-" + pad(now.getDate());
  }

  function fill() {
    var date = today();
    document.querySelectorAll("time.gallery-accessed").forEach(function (time) {
      time.setAttribute("datetime", date);
      time.textContent = date;
    });
    document.querySelectorAll(".gallery-cite code").forEach(function (code) {
      var walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
      for (var node = walker.nextNode(); node; node = walker.nextNode()) {
        if (node.nodeValue.indexOf(PLACEHOLDER) !== -1) {
          node.nodeValue = node.nodeValue.split(PLACEHOLDER).join(date);
        }
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", fill);
  } else {
    fill();
  }
})();
