"""The client's logic, with no widgets: what to load, when to recognise, what to show, what to remember.

The window emits requests (a file chosen, a button pressed) and draws what this controller emits.
Everything slow runs in a worker thread (`workers.py`), so the window never freezes; every error a
person can cause comes back as one `error(title, message)` signal, shown as a dialog.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from PyQt5.QtCore import QByteArray, QObject, QThread, pyqtSignal
from PyQt5.QtGui import QImage

from ml.images import load_image

from . import batch as batchlib
from . import heatmap
from .i18n import N_, error_text, tr
from .models import find_model
from .settings import Settings
from .workers import BatchWorker, TaskWorker, start_in_thread

#: Longest side of the copy of a picture drawn in the window (the model gets the full picture).
DISPLAY_MAX_SIDE = 1600
TOP_K = 3


@dataclass
class ResultView:
    """One recognition, ready to draw: (shown label, class name, probability) rows, best first.

    `unknown` is the model's "none of my classes" verdict (None: the model has no such check);
    `note` says it in words in the current language ("" when the photo passed the check).
    """

    rows: list[tuple[str, str, float]]
    elapsed_ms: float
    model: str
    image: str = ""
    unknown: bool | None = None
    unknown_score: float | None = None
    note: str = ""


@dataclass
class LoadedImage:
    """A decoded picture, its name for messages, and a smaller copy for the screen."""

    image: object
    name: str
    preview: QImage = field(repr=False, default=None)


def to_qimage(img, max_side: int = DISPLAY_MAX_SIDE) -> QImage:
    """A detached QImage copy of an RGB PIL image, shrunk so its longest side is at most `max_side`."""
    img = img.copy()
    img.thumbnail((max_side, max_side))
    w, h = img.size
    data = img.tobytes("raw", "RGB")
    return QImage(data, w, h, 3 * w, QImage.Format_RGB888).copy()


def model_summary(predictor, path: str | Path, lang: str = "en") -> str:
    """A one-line description of a model: name, version or date, architecture, backend, accuracy."""
    info = getattr(predictor, "info", {}) or {}
    parts = [str(info.get("name") or Path(path).stem)]
    version = info.get("version") or str(info.get("created") or "")[:10]
    if version:
        parts.append(str(version))
    if info.get("arch"):
        parts.append(str(info["arch"]))
    parts.append(str(getattr(predictor, "backend", "") or info.get("backend", "")))
    quality = info.get("evaluations") or {}
    oos, ins = quality.get("out_of_source") or {}, quality.get("in_source") or {}
    if isinstance(oos.get("accuracy"), (int, float)):
        parts.append(tr("%(percent)s on %(count)s photos from other sources", lang,
                        percent=f"{oos['accuracy']:.1%}", count=oos.get("count")))
    accuracy = ins.get("accuracy", (info.get("metrics") or {}).get("accuracy"))
    if isinstance(accuracy, (int, float)):
        parts.append(tr("%(percent)s in-source test", lang, percent=f"{accuracy:.1%}"))
    return " · ".join(p for p in parts if p)


def _decode(source, name: str) -> LoadedImage:
    # A 4:3 preview is at most 1600×1200; the loader keeps the short side >= 2 × target = 1200
    # (a 12 MP phone photo is decoded at half size). The model needs far less.
    img = load_image(source, target=DISPLAY_MAX_SIDE * 3 // 8)
    return LoadedImage(image=img, name=name, preview=to_qimage(img))


class Controller(QObject):
    """State and rules of the desktop client; the window only forwards requests and draws signals."""

    language_changed = pyqtSignal(str)
    model_changed = pyqtSignal(str)  # one-line model summary, "" when none
    model_needed = pyqtSignal()
    image_changed = pyqtSignal(QImage)
    result_ready = pyqtSignal(object)  # ResultView
    result_cleared = pyqtSignal()
    heatmap_ready = pyqtSignal(object)  # heatmap.HeatMapView, drawn over the picture
    heatmap_hidden = pyqtSignal()  # back to the photo
    can_recognise = pyqtSignal(bool)
    status = pyqtSignal(str)
    error = pyqtSignal(str, str)  # title, message
    batch_started = pyqtSignal(int)
    batch_rows = pyqtSignal(list)  # [(file name, shown label, probability or None, unknown, note)]
    batch_redrawn = pyqtSignal(list)  # every row again (after a language switch)
    batch_progress = pyqtSignal(int, int)
    batch_running = pyqtSignal(bool)
    batch_done = pyqtSignal(str)

    def __init__(self, settings: Settings, lang: str = "en", parent: QObject | None = None):
        super().__init__(parent)
        self.settings = settings
        self.lang = lang
        self.predictor = None
        self.model_path: Path | None = None
        self.model_text = ""
        self.image: LoadedImage | None = None
        self.result: ResultView | None = None
        self.heatmap: heatmap.HeatMapView | None = None  # made for the current picture and model
        self.heatmap_shown = False
        self.batch_results: list[batchlib.BatchRow] = []
        self._batch: BatchWorker | None = None
        self._image_serial = 0
        self._running: dict[QThread, QObject] = {}

    # --- helpers ------------------------------------------------------------------------------
    def t(self, text: str, **params) -> str:
        return tr(text, self.lang, **params)

    def _fail(self, title: str, exc: BaseException) -> None:
        self.status.emit("")
        self.error.emit(self.t(title), error_text(exc, self.lang))

    def _start(self, worker: QObject) -> None:
        thread = start_in_thread(worker, self)
        self._running[thread] = worker
        thread.finished.connect(self._thread_done)

    def _thread_done(self) -> None:
        thread = self.sender()
        self._running.pop(thread, None)
        if thread is not None:
            thread.deleteLater()

    def _run(self, fn, on_done, on_fail, tag=None) -> None:
        worker = TaskWorker(fn, tag)
        worker.finished.connect(on_done)
        worker.failed.connect(on_fail)
        self._start(worker)

    def _update_ready(self) -> None:
        self.can_recognise.emit(self.predictor is not None and self.image is not None)

    @property
    def busy(self) -> bool:
        """True while any worker thread is still running."""
        return bool(self._running)

    def display_label(self, name: str) -> str:
        """A class name as the model wants it shown in the current language."""
        if self.predictor is None or not hasattr(self.predictor, "display_label"):
            return name
        return self.predictor.display_label(name, self.lang)

    # --- start, language, options -----------------------------------------------------------------
    def start(self, model: str | None = None, image: str | None = None) -> None:
        """Open the given or default model, then the given or last image; ask for a model when none."""
        path = Path(model) if model else find_model(self.settings.model_path)
        if path is None:
            self.model_changed.emit("")
            self.model_needed.emit()
        else:
            self.open_model(str(path), remember=bool(model))
        last = image or self.settings.last_image
        if last and Path(last).is_file():
            self.open_image(last)
        self._update_ready()

    def set_language(self, lang: str) -> None:
        """Switch the UI language, remember it, and redraw the current result in it."""
        self.lang = lang
        self.settings.language = lang
        self.language_changed.emit(lang)
        if self.result is not None:
            old = self.result
            self._show_result([(name, p) for _, name, p in old.rows], old.elapsed_ms, old.unknown, old.unknown_score)
        if self.batch_results and self._batch is None:
            self.batch_redrawn.emit([self._row_view(r) for r in self.batch_results])

    def set_auto_recognise(self, on: bool) -> None:
        """Recognise right after an image is loaded (on) or only when asked (off)."""
        self.settings.auto_recognise = on

    # --- model ----------------------------------------------------------------------------------
    def open_model(self, path: str, remember: bool = True) -> None:
        """Load a model file in the background; `remember` keeps it for the next start."""
        from ml.predict import Predictor  # noqa: PLC0415 - heavy import, only when a model is opened

        self.status.emit(self.t("Loading model…"))
        self._run(lambda: Predictor.load(path), self._model_loaded, self._model_failed, tag=(path, remember))

    def _model_loaded(self, predictor) -> None:
        path, remember = self.sender().tag
        self.predictor, self.model_path = predictor, Path(path)
        if remember:
            self.settings.model_path = path
            self.settings.remember_dir("model", path)
        self.model_text = model_summary(predictor, path, self.lang)
        self.model_changed.emit(self.model_text)
        self.status.emit(self.t("Model loaded: %(name)s", name=self.model_text))
        self.result = None
        self.result_cleared.emit()
        self._forget_heatmap()
        self._update_ready()
        if self.image is not None and self.settings.auto_recognise:
            self.recognise()

    def _model_failed(self, exc) -> None:
        self._fail(N_("Cannot open this model"), exc)
        if self.predictor is None:
            self.model_needed.emit()

    # --- image ----------------------------------------------------------------------------------
    def open_image(self, path: str) -> None:
        """Decode a picture file in the background, show it, and recognise it if the option is on."""
        self.settings.remember_dir("image", path)
        self._load_image(lambda: _decode(path, Path(path).name), path)

    def open_image_bytes(self, data: bytes, name: str = "clipboard") -> None:
        """Same as `open_image` for a picture held in memory (pasted or dropped from a browser)."""
        self._load_image(lambda: _decode(bytes(data), name), "")

    def _load_image(self, fn, path: str) -> None:
        self._image_serial += 1
        self.status.emit(self.t("Loading image…"))
        self._run(fn, self._image_loaded, self._image_failed, tag=(self._image_serial, path))

    def _image_loaded(self, loaded: LoadedImage) -> None:
        serial, path = self.sender().tag
        if serial != self._image_serial:
            return  # a newer picture was opened meanwhile
        self.image = loaded
        if path:
            self.settings.last_image = path
        self._forget_heatmap()
        self.image_changed.emit(loaded.preview)
        self.result = None
        self.result_cleared.emit()
        self.status.emit("")
        self._update_ready()
        if self.predictor is not None and self.settings.auto_recognise:
            self.recognise()

    def _image_failed(self, exc) -> None:
        self._fail(N_("Cannot open this image"), exc)

    # --- recognise --------------------------------------------------------------------------------
    def recognise(self) -> None:
        """Run the model on the current picture in the background; the result arrives as `result_ready`."""
        if self.predictor is None:
            self.error.emit(self.t("Recognition failed"), self.t("No model is loaded yet. Use File → Open model..."))
            return
        if self.image is None:
            self.error.emit(self.t("Recognition failed"), self.t("Open or paste an image first."))
            return
        predictor, image = self.predictor, self.image.image

        def predict():
            started = time.perf_counter()
            answer = predictor.classify(image, k=TOP_K)
            return answer, (time.perf_counter() - started) * 1000

        self.status.emit(self.t("Recognising…"))
        self._run(predict, self._recognised, self._recognise_failed, tag=(self._image_serial, predictor))

    def _recognised(self, outcome) -> None:
        serial, predictor = self.sender().tag
        if serial != self._image_serial or predictor is not self.predictor:
            return  # the picture or the model changed while this one ran
        answer, elapsed_ms = outcome
        self._show_result(answer.top_k, elapsed_ms, answer.unknown, answer.unknown_score)
        self.status.emit("")

    def _show_result(self, top, elapsed_ms: float, unknown: bool | None = None, score: float | None = None) -> None:
        rows = [(self.display_label(name), name, float(p)) for name, p in top]
        self.result = ResultView(rows, elapsed_ms, self.model_text, self.image.name if self.image else "",
                                 unknown, score, self.unknown_note(rows, unknown))
        self.result_ready.emit(self.result)

    def unknown_note(self, rows, unknown: bool | None) -> str:
        """The open-set verdict in words: the closest guess when unknown, a small note when not available."""
        if unknown is None:
            return self.t("Unknown-photo check not available for this model.")
        if unknown and rows:
            return self.t("This photo doesn't look like any animal I know — closest: %(label)s %(percent)s",
                          label=rows[0][0], percent=f"{rows[0][2]:.0%}")
        return ""

    def _recognise_failed(self, exc) -> None:
        self._fail(N_("Recognition failed"), exc)

    # --- why this answer ------------------------------------------------------------------------
    def explain_unavailable(self) -> str:
        """Why "Why?" cannot work here, in the current language ("" when it can)."""
        reason = heatmap.unavailable_reason(self.predictor)
        return self.t(reason) if reason else ""

    def toggle_heatmap(self) -> None:
        """Show the heat map over the picture (made in the background the first time), or the photo again."""
        if self.heatmap_shown:
            self.heatmap_shown = False
            if self.image is not None:
                self.image_changed.emit(self.image.preview)
            self.heatmap_hidden.emit()
            return
        if self.predictor is None or self.image is None:
            self.error.emit(self.t("Cannot explain this answer"), self.t("Open a model and an image first."))
            return
        reason = self.explain_unavailable()
        if reason:
            self.error.emit(self.t("Cannot explain this answer"), reason)
            return
        if self.heatmap is not None:
            self._draw_heatmap()
            return
        predictor, image = self.predictor, self.image.image
        top = self.result.rows[0][1] if self.result and self.result.rows else None
        index = predictor.classes.index(top) if top in predictor.classes else None
        self.status.emit(self.t("Working out why…"))
        self._run(lambda: heatmap.make_heatmap(predictor, image, index), self._heatmap_made, self._heatmap_failed,
                  tag=(self._image_serial, predictor))

    def _heatmap_made(self, view) -> None:
        serial, predictor = self.sender().tag
        if serial != self._image_serial or predictor is not self.predictor:
            return  # the picture or the model changed while it ran
        self.heatmap = view
        self._draw_heatmap()

    def _draw_heatmap(self) -> None:
        self.heatmap_shown = True
        self.heatmap_ready.emit(self.heatmap)
        self.status.emit(self.heatmap_caption())

    def heatmap_caption(self) -> str:
        """What the colours mean and how long the heat map took, in the current language."""
        view = self.heatmap
        return heatmap.caption(view, self.display_label(view.name), self.lang) if view else ""

    def _heatmap_failed(self, exc) -> None:
        self._fail(N_("Cannot explain this answer"), exc)

    def _forget_heatmap(self) -> None:
        was_shown = self.heatmap_shown
        self.heatmap, self.heatmap_shown = None, False
        if was_shown:
            if self.image is not None:
                self.image_changed.emit(self.image.preview)
            self.heatmap_hidden.emit()

    # --- batch ----------------------------------------------------------------------------------
    def run_batch(self, folder: str) -> None:
        """Classify every picture in `folder` in the background, row by row, with progress."""
        if self._batch is not None:
            self.error.emit(self.t("Error"), self.t("A batch is already running."))
            return
        if self.predictor is None:
            self.error.emit(self.t("Recognition failed"), self.t("No model is loaded yet. Use File → Open model..."))
            return
        try:
            files = batchlib.list_pictures(folder)
        except batchlib.BatchError as exc:
            msg = self.t("The folder holds no pictures.") if exc.code == "no_pictures" else exc.message
            self.error.emit(self.t("Cannot read this folder"), msg)
            return
        self.settings.remember_dir("batch", folder)
        self.batch_results = []
        worker = BatchWorker(self.predictor, files)
        worker.rows.connect(self._batch_rows)
        worker.progress.connect(self.batch_progress)
        worker.finished.connect(self._batch_finished)
        worker.cancelled.connect(self._batch_cancelled)
        worker.failed.connect(self._batch_failed)
        self._batch = worker
        self.batch_started.emit(len(files))
        self.batch_running.emit(True)
        self._start(worker)

    def cancel_batch(self) -> None:
        """Stop the running batch after the chunk it is on; rows done so far are kept."""
        if self._batch is not None:
            self._batch.cancel()

    def _batch_rows(self, chunk: list) -> None:
        self.batch_results.extend(chunk)
        self.batch_rows.emit([self._row_view(r) for r in chunk])

    def _row_view(self, r: batchlib.BatchRow) -> tuple:
        """(file name, shown label, probability or None, unknown verdict in words, note) for the table."""
        if r.ok:
            verdict = self.t("n/a") if r.unknown is None else self.t(N_("yes") if r.unknown else N_("no"))
            return (r.name, self.display_label(r.label), r.probability, verdict, "")
        unreadable = self.t("unreadable")
        return (r.name, "", None, "", f"{unreadable}: {r.error}")

    def _batch_end(self, message: str) -> None:
        self._batch = None
        self.batch_running.emit(False)
        self.batch_done.emit(message)
        self.status.emit(message)

    def _batch_finished(self, rows: list) -> None:
        bad = sum(not r.ok for r in rows)
        self._batch_end(self.t("Finished: %(ok)s recognised, %(bad)s unreadable.", ok=len(rows) - bad, bad=bad))

    def _batch_cancelled(self, rows: list) -> None:
        total = len(self._batch.files) if self._batch else len(rows)
        self._batch_end(self.t("Cancelled after %(done)s of %(total)s pictures.", done=len(rows), total=total))

    def _batch_failed(self, exc) -> None:
        self._batch_end("")
        self._fail(N_("Recognition failed"), exc)

    def export_csv(self, path: str) -> bool:
        """Save the batch table as CSV at `path`; False (and an error dialog) when it cannot."""
        if not self.batch_results:
            self.error.emit(self.t("Cannot save"), self.t("There are no results to save yet."))
            return False
        try:
            out = batchlib.write_csv(self.batch_results, path, self.display_label)
        except batchlib.BatchError as exc:
            self._fail(N_("Cannot save"), exc)
            return False
        self.settings.remember_dir("export", path)
        self.status.emit(self.t("Saved %(path)s", path=str(out)))
        return True

    def copy_into_class_folders(self, dest: str) -> None:
        """Copy recognised pictures into `dest/<class>/` in the background; originals stay put."""
        if not self.batch_results:
            self.error.emit(self.t("Cannot save"), self.t("There are no results to save yet."))
            return
        rows = list(self.batch_results)
        self.settings.remember_dir("copy", dest)
        self._run(lambda: batchlib.copy_into_class_folders(rows, dest), self._copied, self._copy_failed, tag=dest)

    def _copied(self, n: int) -> None:
        self.status.emit(self.t("Copied %(n)s pictures into %(dest)s (originals untouched).", n=n, dest=self.sender().tag))

    def _copy_failed(self, exc) -> None:
        self._fail(N_("Cannot save"), exc)

    # --- exit -----------------------------------------------------------------------------------
    def shutdown(self, geometry: QByteArray | None = None, wait_ms: int = 10_000) -> None:
        """Remember the window, stop the batch, and wait for worker threads before the app exits."""
        if geometry is not None:
            self.settings.geometry = geometry
        self.cancel_batch()
        for thread in list(self._running):
            thread.quit()
            thread.wait(wait_ms)
