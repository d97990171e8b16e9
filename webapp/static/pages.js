// Small behaviours every page may use, kept out of the HTML so the Content-Security-Policy can forbid inline handlers.
(function () {
  "use strict";

  // <form data-confirm="Question?">, or a chosen <option data-confirm="...">: ask before submitting.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    const chosen = form.querySelector("select option:checked[data-confirm]");
    const question = form.dataset.confirm || (chosen && chosen.dataset.confirm);
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);

  // [data-needs-script]: controls that only work with this script stay hidden without it.
  document.querySelectorAll("[data-needs-script]").forEach((el) => { el.hidden = false; });

  // <input type=checkbox data-select-all="selector">: (un)tick every box the selector finds;
  // [data-selected-count="Selected: {n}"] says how many are ticked.
  document.querySelectorAll("input[data-select-all]").forEach((all) => {
    const boxes = () => [...document.querySelectorAll(all.dataset.selectAll)];
    const counter = document.querySelector("[data-selected-count]");
    const update = () => {
      const ticked = boxes().filter((box) => box.checked).length;
      all.checked = ticked > 0 && ticked === boxes().length;
      all.indeterminate = ticked > 0 && ticked < boxes().length;
      if (counter) counter.textContent = ticked ? counter.dataset.selectedCount.replace("{n}", String(ticked)) : "";
    };
    all.addEventListener("change", () => { boxes().forEach((box) => { box.checked = all.checked; }); update(); });
    boxes().forEach((box) => box.addEventListener("change", update));
    update();
  });

  // <img data-hide-if-broken>: hide the picture's container when it cannot be loaded (no confusion matrix yet).
  function hideBroken(img) { if (img.parentElement) img.parentElement.hidden = true; }
  document.querySelectorAll("img[data-hide-if-broken]").forEach((img) => {
    if (img.complete && img.naturalWidth === 0 && img.currentSrc) hideBroken(img);
    else img.addEventListener("error", () => hideBroken(img), { once: true });
  });
})();
