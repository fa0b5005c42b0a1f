// Runs before the page paints, so a chosen theme never flashes the other one first.
(function () {
  try {
    var theme = localStorage.getItem("tokenomy.theme");
    if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
  } catch (e) { /* storage disabled: follow the system */ }
})();
