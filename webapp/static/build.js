// The guided builder (admin/build.html): add and remove class rows, by button or keyboard.
// The build's timeline (admin/build_timeline.html): poll its JSON, show progress, elapsed time and the estimate.
(function () {
  "use strict";

  const list = document.querySelector("[data-class-rows]");
  if (list) {
    // Every input of row i has the id "build-class-<i>-<field>", and its label points at it.
    const renumber = () => {
      [...list.querySelectorAll("[data-class-row]")].forEach((row, i) => {
        row.querySelectorAll("input").forEach((input) => {
          const field = input.id.replace(/^build-class-\d+-/, "");
          const label = row.querySelector(`label[for="${input.id}"]`);
          input.id = `build-class-${i}-${field}`;
          if (label) label.htmlFor = input.id;
        });
      });
    };
    const addRow = () => {
      const rows = list.querySelectorAll("[data-class-row]");
      const row = rows[rows.length - 1].cloneNode(true);
      row.querySelectorAll("input").forEach((input) => { input.value = ""; });
      list.appendChild(row);
      renumber();
      row.querySelector("input").focus();
    };
    const removeRow = (row) => {
      if (list.querySelectorAll("[data-class-row]").length <= 2) return; // a classifier needs two classes
      const next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      renumber();
      if (next) next.querySelector("input").focus();
    };
    document.querySelector("[data-add-class]").addEventListener("click", addRow);
    list.addEventListener("click", (event) => {
      const button = event.target.closest("[data-remove-class]");
      if (button) removeRow(button.closest("[data-class-row]"));
    });
    document.addEventListener("keydown", (event) => {
      if (!event.altKey) return;
      if (event.key === "n" || event.key === "N" || event.code === "KeyN") {
        event.preventDefault();
        addRow();
      } else if (event.key === "Backspace") {
        const row = document.activeElement && document.activeElement.closest("[data-class-row]");
        if (row) { event.preventDefault(); removeRow(row); }
      }
    });
  }

  const build = document.querySelector("[data-build-id]");
  if (build && ["running", "waiting"].includes(build.dataset.status)) {
    const left = build.dataset.labelLeft;
    const poll = async () => {
      let body;
      try {
        const response = await fetch(build.dataset.pollUrl, { headers: { Accept: "application/json" } });
        if (!response.ok) return;
        body = (await response.json()).build;
      } catch (error) {
        return; // the next poll tries again
      }
      const changed = body.status !== build.dataset.status || body.steps.some((step) => {
        const item = document.getElementById(`step-${step.name}`);
        return !item || item.dataset.status !== step.status;
      });
      if (changed) { window.location.reload(); return; }
      build.querySelector("[data-build-elapsed]").textContent = `${body.elapsed_s} s`;
      const whole = build.querySelector("[data-build-left]");
      if (whole && body.estimate) whole.textContent = String(body.estimate.remaining_s);
      body.steps.forEach((step) => {
        const item = document.getElementById(`step-${step.name}`);
        const bar = item.querySelector("[data-step-progress]");
        if (bar) bar.value = step.progress;
        const elapsed = item.querySelector("[data-step-elapsed]");
        if (elapsed && step.elapsed_s !== null) elapsed.textContent = `${step.elapsed_s} s`;
        const rest = item.querySelector("[data-step-left]");
        if (rest) rest.textContent = step.remaining_s === null ? "" : `· ${left.replace("{n}", String(step.remaining_s))}`;
      });
      window.setTimeout(poll, 2000);
    };
    window.setTimeout(poll, 2000);
  }
})();
