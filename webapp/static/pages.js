// Small behaviours every page may use, kept out of the HTML so the Content-Security-Policy can forbid inline handlers.
(function () {
  "use strict";

  // <form data-confirm="Question?">: ask before submitting.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  }, true);

  // <img data-hide-if-broken>: hide the picture's container when it cannot be loaded (no confusion matrix yet).
  function hideBroken(img) { if (img.parentElement) img.parentElement.hidden = true; }
  document.querySelectorAll("img[data-hide-if-broken]").forEach((img) => {
    if (img.complete && img.naturalWidth === 0 && img.currentSrc) hideBroken(img);
    else img.addEventListener("error", () => hideBroken(img), { once: true });
  });
})();
