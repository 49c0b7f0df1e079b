/* Applies the theme chosen with the toggle before the page paints (no inline script). */
(function () {
  try {
    var t = localStorage.getItem("socmon-theme");
    if (t === "dark" || t === "light") document.documentElement.dataset.theme = t;
  } catch (e) { /* storage disabled: follow prefers-color-scheme */ }
})();
