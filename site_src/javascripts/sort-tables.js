/* Click a column header of a table inside `.gallery-sortable` to sort by it; click again to
   reverse. Cells that start with a number ("25.6 M", "76.0%", "224×224") sort numerically and,
   in either direction, before text such as "unknown"; text sorts naturally ("ResNet50" before
   "ResNet101"). The role and aria-sort attributes make Material draw its own sort arrows. */
(function () {
  "use strict";

  function sortKey(cell) {
    const text = cell ? cell.textContent.trim() : "";
    const number = parseFloat(text.replace(/,/g, ""));
    return Number.isNaN(number) ? { text: text } : { number: number };
  }

  function compare(a, b, direction) {
    if ("number" in a && "number" in b) return direction * (a.number - b.number);
    if ("number" in a) return -1;
    if ("number" in b) return 1;
    return direction * a.text.localeCompare(b.text, undefined, { numeric: true, sensitivity: "base" });
  }

  function sortBy(table, header, column) {
    const ascending = header.getAttribute("aria-sort") !== "ascending";
    for (const other of table.tHead.rows[0].cells) other.removeAttribute("aria-sort");
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    rows.sort(function (first, second) {
      return compare(sortKey(first.cells[column]), sortKey(second.cells[column]), ascending ? 1 : -1);
    });
    for (const row of rows) body.appendChild(row);
  }

  function makeSortable(table) {
    if (!table.tHead || !table.tBodies.length || table.dataset.gallerySortable) return;
    table.dataset.gallerySortable = "on";
    Array.from(table.tHead.rows[0].cells).forEach(function (header, column) {
      header.setAttribute("role", "columnheader");
      header.tabIndex = 0;
      header.addEventListener("click", function () {
        sortBy(table, header, column);
      });
      header.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          sortBy(table, header, column);
        }
      });
    });
  }

  function init() {
    document.querySelectorAll(".gallery-sortable table").forEach(makeSortable);
  }

  if (typeof document$ !== "undefined") {
    document$.subscribe(init);
  } else {
    document.addEventListener("DOMContentLoaded", init);
  }
})();
