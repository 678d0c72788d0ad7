// Every picture opened in the lightbox carries the caption printed under it in the page (model,
// photo, class, method, layer and colour scale), so a reader stepping through twenty pictures
// always knows what each one shows, and the figure's alt text, for screen readers. Runs before
// the lightbox is set up (the glightbox plugin's script comes last in the page), which reads
// `data-description` and `data-alt` when it starts. A link that opens a picture not shown in the
// page (a family's A4 sheet) takes both from the hidden caption beside it.
// The caption is the page's own, already escaped HTML.
(function () {
  document.querySelectorAll("a.glightbox").forEach(function (link) {
    var figure = link.closest("figure");
    var caption = figure
      ? figure.querySelector("figcaption")
      : link.parentElement.querySelector(".gallery-sheet-caption");
    var img = link.querySelector("img");
    if (caption && !link.hasAttribute("data-description")) {
      // The caption without its permalink, which points into the page behind the lightbox.
      var copy = caption.cloneNode(true);
      copy.querySelectorAll(".gallery-permalink").forEach(function (a) { a.remove(); });
      link.setAttribute("data-description", copy.innerHTML.trim());
    }
    if (!link.hasAttribute("data-alt")) {
      var alt = img ? img.getAttribute("alt") : caption && caption.textContent.trim();
      if (alt) {
        link.setAttribute("data-alt", alt);
      }
    }
  });
})();
