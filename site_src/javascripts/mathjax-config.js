/* MathJax settings for pymdownx.arithmatex (generic mode): typeset only the spans and divs that
   arithmatex marks, with the \( \) and \[ \] delimiters it writes. Must load before MathJax. */
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
};
