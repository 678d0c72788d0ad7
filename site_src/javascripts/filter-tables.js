/* A text box `<input data-gallery-filter="ID">` filters the rows of the table inside the element
   with that id: a row stays visible when every word typed appears in its text (case and accents
   ignored), so "resnet v2" or "efficientnet 2019" narrow the models table. The box's <output>
   says how many rows are shown. Without JavaScript the box does nothing and all rows show. */
(function () {
  "use strict";

  function fold(text) {
    return text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  function apply(input, table) {
    const words = fold(input.value).split(/\s+/).filter(Boolean);
    const rows = Array.from(table.tBodies[0].rows);
    let shown = 0;
    for (const row of rows) {
      const text = fold(row.textContent);
      const match = words.every(function (word) {
        return text.includes(word);
      });
      row.hidden = !match;
      if (match) shown += 1;
    }
    const output = input.parentElement.querySelector("output");
    if (output) {
      output.textContent = words.length ? shown + " of " + rows.length + " shown" : "";
    }
  }

  function init() {
    document.querySelectorAll("input[data-gallery-filter]").forEach(function (input) {
      const holder = document.getElementById(input.dataset.galleryFilter);
      const table = holder && holder.querySelector("table");
      if (!table || !table.tBodies.length || input.dataset.galleryFilterOn) return;
      input.dataset.galleryFilterOn = "on";
      input.addEventListener("input", function () {
        apply(input, table);
      });
      // The browser may restore a typed value when the reader comes back to the page.
      if (input.value) apply(input, table);
    });
  }

  if (typeof document$ !== "undefined") {
    document$.subscribe(init);
  } else {
    document.addEventListener("DOMContentLoaded", init);
  }
})();
