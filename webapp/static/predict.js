// Upload page: file picker, camera, drag-and-drop and paste all end in recognise(file).
(function () {
  "use strict";

  const form = document.getElementById("upload-form");
  if (!form) return;
  const $ = (id) => document.getElementById(id);
  const fileInput = $("file");
  const cameraInput = $("camera");
  const dropzone = $("dropzone");
  const errorBox = $("error");
  const work = $("work");
  const busy = $("busy");
  const result = $("result");
  const preview = $("preview");
  const list = $("predictions");
  const template = $("prediction-template");
  const messages = JSON.parse($("page-messages").textContent);
  const apiUrl = form.dataset.apiUrl;
  const limitBytes = parseInt(form.dataset.limitBytes, 10);
  const limitText = form.dataset.limitText;
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  let previewUrl = null;
  let inFlight = null;
  let lastFile = null;
  let lastAnswer = null;

  // Translate like the server's _(): English key, %(name)s placeholders.
  function t(key, params) {
    let text = messages[key] || key;
    for (const [name, value] of Object.entries(params || {})) {
      text = text.split("%(" + name + ")s").join(String(value));
    }
    return text;
  }

  // API error code (or HTTP status) → a sentence a person understands.
  function messageFor(status, error) {
    const code = (error && error.code) || "";
    if (status === 413 || code === "file_too_large" || code === "too_large" || code === "request_entity_too_large" || code === "payload_too_large") {
      return t("The file is too large. The limit is %(size)s.", { size: limitText });
    }
    if (status === 429 || code === "too_many_requests" || code === "rate_limited") {
      return t("Too many requests. Please wait a moment and try again.");
    }
    const byCode = {
      not_image: "This file is not a picture. Please choose a JPEG, PNG, WebP, GIF or BMP image.",
      image_invalid: "This file is not a picture. Please choose a JPEG, PNG, WebP, GIF or BMP image.",
      unsupported_format: "This file is not a picture. Please choose a JPEG, PNG, WebP, GIF or BMP image.",
      empty: "The file is empty.",
      truncated: "The picture is damaged or incomplete.",
      too_small: "The picture is too small to recognise.",
      too_many_pixels: "The picture has too many pixels.",
      model_missing: "No model has been trained yet. An administrator must train and activate one first.",
      no_model: "No model has been trained yet. An administrator must train and activate one first.",
      model_corrupt: "The model could not be loaded.",
      model_incompatible: "The model could not be loaded.",
      no_file: "Please choose a picture first.",
      missing_file: "Please choose a picture first.",
    };
    if (byCode[code]) return t(byCode[code]);
    return (error && error.message) || t("Something went wrong.");
  }

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
    busy.hidden = true;
  }

  function clearError() {
    errorBox.hidden = true;
    errorBox.textContent = "";
  }

  function showPreview(file) {
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = URL.createObjectURL(file);
    preview.src = previewUrl;
    work.hidden = false;
  }

  function modelName(model) {
    if (!model) return "";
    const name = model.name || model.version || model.id || model.file || "";
    const arch = model.arch && String(name).indexOf(model.arch) < 0 ? " (" + model.arch + ")" : "";
    return String(name) + arch;
  }

  // Measured quality, out-of-source first; each figure says which kind it is.
  function modelQuality(model) {
    const q = (model && model.quality) || {};
    const parts = [];
    if (q.out_of_source && typeof q.out_of_source.accuracy === "number") {
      parts.push(t("%(percent)s right on %(count)s photos from other sources",
        { percent: (q.out_of_source.accuracy * 100).toFixed(1) + "%", count: q.out_of_source.count }));
    }
    if (q.in_source && typeof q.in_source.accuracy === "number") {
      parts.push(t("%(percent)s on its own sources' test photos", { percent: (q.in_source.accuracy * 100).toFixed(1) + "%" }));
    }
    return parts.join(" · ");
  }

  // The model's "none of my classes" verdict: true, false, or null when the model has no such check.
  function showUnknown(data) {
    const top = (data.predictions || [])[0];
    const unknown = data.unknown === true && top;
    $("unknown").hidden = !unknown;
    $("unknown").textContent = unknown
      ? t("This photo doesn't look like any animal I know — closest: %(label)s %(percent)s",
          { label: top.display_label || top.label, percent: Math.round(top.probability * 100) + "%" })
      : "";
    $("no-unknown-check").hidden = !(data.unknown === null || data.unknown === undefined);
    result.classList.toggle("is-unknown", Boolean(unknown));
  }

  function showResult(data) {
    showUnknown(data);
    list.replaceChildren();
    for (const p of data.predictions || []) {
      const item = template.content.firstElementChild.cloneNode(true);
      const percent = Math.max(0, Math.min(100, p.probability * 100));
      item.querySelector(".label").textContent = p.display_label || p.display || p.label;
      item.querySelector(".probability").textContent = percent.toFixed(1) + "%";
      const bar = item.querySelector(".progress");
      bar.setAttribute("aria-valuenow", percent.toFixed(1));
      bar.setAttribute("aria-label", p.display_label || p.display || p.label);
      list.appendChild(item);
      // Set the width on the next frame so the bar animates from zero.
      requestAnimationFrame(() => { item.querySelector(".progress-bar").style.width = percent.toFixed(1) + "%"; });
    }
    $("model-name").textContent = modelName(data.model);
    $("model-quality").textContent = modelQuality(data.model);
    const ms = typeof data.latency_ms === "number" ? data.latency_ms.toFixed(data.latency_ms < 10 ? 1 : 0) : "?";
    $("latency").textContent = t("%(ms)s ms", { ms: ms });
    busy.hidden = true;
    result.hidden = false;
    showCorrection(data);
    resetExplain();
  }

  // "Wrong? tell us": the model's classes to pick; the picture is sent again with the choice.
  const correction = $("correction");
  function showCorrection(data) {
    lastAnswer = data;
    const select = $("correction-label");
    const top = ((data.predictions || [])[0] || {}).label;
    select.replaceChildren();
    for (const c of (data.model && data.model.classes) || []) {
      if (c.label === top) continue;
      const option = document.createElement("option");
      option.value = c.label;
      option.textContent = c.display_label || c.label;
      select.appendChild(option);
    }
    correction.hidden = select.options.length === 0;
    correction.open = false;
    $("correction-send").disabled = false;
    $("correction-status").textContent = "";
  }

  $("correction-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!lastFile || !lastAnswer) return;
    const status = $("correction-status");
    const button = $("correction-send");
    const body = new FormData();
    body.append("file", lastFile, lastFile.name || "pasted.png");
    body.append("label", $("correction-label").value);
    body.append("model_id", String((lastAnswer.model || {}).id || ""));
    body.append("predicted", ((lastAnswer.predictions || [])[0] || {}).label || "");
    const headers = { Accept: "application/json" };
    if (csrfMeta) headers["X-CSRFToken"] = csrfMeta.content;
    button.disabled = true;
    status.textContent = t("Sending…");
    let response = null;
    let data = null;
    try {
      response = await fetch(correction.dataset.apiUrl, { method: "POST", body: body, headers: headers });
      try { data = await response.json(); } catch (err) { data = null; }
    } catch (err) {
      status.textContent = t("The server could not be reached. Please try again.");
      button.disabled = false;
      return;
    }
    if (response.ok) { status.textContent = t("Thank you! An administrator will review it."); return; }
    button.disabled = false;
    const code = data && data.error && data.error.code;
    if (response.status === 429) status.textContent = t("Too many corrections from here. Please try again later.");
    else if (code === "bad_class") status.textContent = t("That is not one of this model's classes.");
    else status.textContent = messageFor(response.status, data && data.error);
  });

  // "Why this answer?": the heat map is asked for only when the button is pressed, then toggles.
  const explainButton = $("explain-toggle");
  const explainStatus = $("explain-status");
  const heatmap = $("heatmap");
  const heatmapCaption = $("heatmap-caption");
  let explainedFile = null;

  function showHeatmap(on) {
    heatmap.hidden = !on;
    heatmapCaption.hidden = !on;
    preview.hidden = on;
    explainButton.textContent = on ? t("Show the photo") : t("Why this answer?");
    explainButton.setAttribute("aria-pressed", on ? "true" : "false");
  }

  function resetExplain() {
    explainedFile = null;
    heatmap.removeAttribute("src");
    heatmapCaption.textContent = "";
    explainStatus.textContent = "";
    explainButton.disabled = false;
    showHeatmap(false);
  }

  function explainError(status, error) {
    const code = (error && error.code) || "";
    if (code === "needs_torch") return t("This server cannot make heat maps: it needs the full install with torch.");
    if (code === "busy") return t("Too many heat maps are being made right now. Please try again in a moment.");
    return messageFor(status, error);
  }

  explainButton.addEventListener("click", async () => {
    if (!heatmap.hidden) { showHeatmap(false); return; }
    if (explainedFile && explainedFile === lastFile) { showHeatmap(true); return; }
    if (!lastFile) return;
    const file = lastFile;
    const body = new FormData();
    body.append("file", file, file.name || "pasted.png");
    const headers = { Accept: "application/json" };
    if (csrfMeta) headers["X-CSRFToken"] = csrfMeta.content;
    explainButton.disabled = true;
    explainStatus.textContent = t("Working out why…");
    let response = null;
    let data = null;
    try {
      response = await fetch($("explain").dataset.apiUrl, { method: "POST", body: body, headers: headers });
      try { data = await response.json(); } catch (err) { data = null; }
    } catch (err) {
      data = null;
    }
    if (file !== lastFile) return;  // another picture was chosen meanwhile
    explainButton.disabled = false;
    if (!response) { explainStatus.textContent = t("The server could not be reached. Please try again."); return; }
    if (!response.ok || !data || data.error) {
      explainStatus.textContent = explainError(response.status, data && data.error);
      return;
    }
    explainStatus.textContent = "";
    heatmap.src = data.image;
    heatmapCaption.textContent = t("Red and yellow: the parts of the photo that mattered most for “%(label)s”.",
      { label: data.display_label || data.label });
    explainedFile = file;
    showHeatmap(true);
  });

  async function recognise(file) {
    clearError();
    if (!file) { showError(t("Please choose a picture first.")); return; }
    if (file.size > limitBytes) {
      work.hidden = true;
      showError(t("The file is too large. The limit is %(size)s.", { size: limitText }));
      return;
    }
    if (file.size === 0) { work.hidden = true; showError(t("The file is empty.")); return; }
    showPreview(file);
    lastFile = file;
    resetExplain();
    result.hidden = true;
    busy.hidden = false;
    if (inFlight) inFlight.abort();
    const controller = new AbortController();
    inFlight = controller;
    const body = new FormData();
    body.append("file", file, file.name || "pasted.png");
    const headers = { Accept: "application/json" };
    if (csrfMeta) headers["X-CSRFToken"] = csrfMeta.content;
    let response;
    try {
      response = await fetch(apiUrl, { method: "POST", body: body, headers: headers, signal: controller.signal });
    } catch (err) {
      if (err.name === "AbortError") return;
      showError(t("The server could not be reached. Please try again."));
      return;
    } finally {
      if (inFlight === controller) inFlight = null;
    }
    let data = null;
    try { data = await response.json(); } catch (err) { data = null; }
    if (controller.signal.aborted) return;
    if (!response.ok || !data || data.error) {
      showError(messageFor(response.status, data && data.error));
      return;
    }
    showResult(data);
  }

  function firstImage(items) {
    for (const item of items || []) {
      const file = item.getAsFile ? (item.kind === "file" ? item.getAsFile() : null) : item;
      if (file) return file;
    }
    return null;
  }

  fileInput.addEventListener("change", () => { recognise(fileInput.files[0]); fileInput.value = ""; });
  cameraInput.addEventListener("change", () => { recognise(cameraInput.files[0]); cameraInput.value = ""; });
  form.addEventListener("submit", (event) => { event.preventDefault(); recognise(fileInput.files[0]); });

  // The camera button only makes sense where `capture` opens a camera (phones, tablets).
  if (!window.matchMedia || !window.matchMedia("(pointer: coarse)").matches) {
    $("camera-label").hidden = true;
  }

  ["dragenter", "dragover"].forEach((name) => document.addEventListener(name, (event) => {
    event.preventDefault();
    dropzone.classList.add("dragover");
  }));
  ["dragleave", "dragend"].forEach((name) => document.addEventListener(name, (event) => {
    if (event.target === dropzone || !event.relatedTarget) dropzone.classList.remove("dragover");
  }));
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    dropzone.classList.remove("dragover");
    const dt = event.dataTransfer;
    recognise(dt && (firstImage(dt.files) || firstImage(dt.items)));
  });
  document.addEventListener("paste", (event) => {
    const file = firstImage(event.clipboardData && event.clipboardData.items);
    if (file) { event.preventDefault(); recognise(file); }
  });
  dropzone.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); fileInput.click(); }
  });
})();
