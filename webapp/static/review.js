// The review grid's keys (k keep, t trash, m move, u undo, arrows between pictures) and the job's progress.
// Every action is a plain form in the page; a key only submits the focused picture's form.
(function () {
  "use strict";

  const grid = document.getElementById("review-grid");
  const items = () => [...document.querySelectorAll("[data-review-item]")];

  // After an action the server sends us back to #r-<position>: the picture now there takes the focus.
  const target = location.hash && document.getElementById(location.hash.slice(1));
  if (target && target.matches("[data-review-item]")) target.focus();
  else if (location.hash && grid) { const all = items(); if (all.length) all[all.length - 1].focus(); }

  function submit(form) {
    if (!form) return;
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const el = event.target;
    const item = el instanceof Element ? el.closest("[data-review-item]") : null;
    if (el instanceof HTMLSelectElement && item) {
      if (event.key === "Enter") { event.preventDefault(); submit(el.form); }
      else if (event.key === "Escape") { event.preventDefault(); item.focus(); }
      return;
    }
    if (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement || (el instanceof HTMLElement && el.isContentEditable)) return;
    const key = event.key.toLowerCase();
    if (key === "u") { event.preventDefault(); const undo = document.querySelector("#undo-form button:not([disabled])"); if (undo) submit(undo.form); return; }
    if (!item) return;
    if (key === "k") { event.preventDefault(); submit(item.querySelector("form[data-action=keep]")); }
    else if (key === "t") { event.preventDefault(); submit(item.querySelector("form[data-action=trash]")); }
    else if (key === "m") { const select = item.querySelector("form[data-action=move] select"); if (select) { event.preventDefault(); select.focus(); } }
    else if (["arrowright", "arrowleft", "arrowdown", "arrowup"].includes(key) && el === item) {
      const all = items();
      const here = all.indexOf(item);
      const across = Math.max(1, Math.round(grid.clientWidth / item.getBoundingClientRect().width));
      const step = { arrowright: 1, arrowleft: -1, arrowdown: across, arrowup: -across }[key];
      const next = all[Math.min(Math.max(here + step, 0), all.length - 1)];
      event.preventDefault();
      next.focus();
    }
  });

  // While the review job runs: follow its progress through the jobs API, reload the page when it ends.
  const job = document.getElementById("review-job");
  if (job) {
    const bar = document.getElementById("review-progress");
    const stage = document.getElementById("review-stage");
    const poll = () => {
      fetch(job.dataset.jobUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
        .then((body) => {
          const state = body.job;
          if (state.status !== "queued" && state.status !== "running") { location.reload(); return; }
          bar.value = state.progress || 0;
          bar.textContent = Math.round((state.progress || 0) * 100) + "%";
          if (state.stage) stage.textContent = state.stage;
          setTimeout(poll, 1500);
        })
        .catch(() => setTimeout(poll, 5000));
    };
    setTimeout(poll, 1000);
  }
})();
