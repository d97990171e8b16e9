"""The main window: menus, the two pages, dialogs. It draws and emits signals; the controller decides.

Dialogs go through small methods (`ask_open_image`, `confirm_exit`, `show_error`, ...) so tests can
answer them without a person; error dialogs are non-blocking, so the window stays usable.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PyQt5.QtCore import QBuffer, QByteArray, QIODevice, Qt, pyqtSignal
from PyQt5.QtGui import QImage, QKeySequence
from PyQt5.QtWidgets import (
    QAction,
    QActionGroup,
    QApplication,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QTabWidget,
)

from .i18n import LANGUAGE_NAMES, LANGUAGES, N_, tr
from .widgets import BatchPanel, SinglePanel

IMAGE_FILTER = "*.jpg *.jpeg *.jpe *.png *.webp *.bmp *.gif *.tif *.tiff *.heic *.heif"


def image_to_png(image: QImage) -> bytes:
    """Encode a QImage (from the clipboard or a drop) as PNG bytes for the image loader."""
    buffer = QBuffer()
    buffer.open(QIODevice.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(buffer.data())


class MainWindow(QMainWindow):
    """The client's only window. Emits what the person asked for; draws what it is told."""

    image_chosen = pyqtSignal(str)
    image_pasted = pyqtSignal(bytes)
    recognise_requested = pyqtSignal()
    heatmap_requested = pyqtSignal()
    auto_recognise_toggled = pyqtSignal(bool)
    model_chosen = pyqtSignal(str)
    folder_chosen = pyqtSignal(str)
    cancel_requested = pyqtSignal()
    export_chosen = pyqtSignal(str)
    copy_dest_chosen = pyqtSignal(str)
    language_chosen = pyqtSignal(str)
    closing = pyqtSignal(QByteArray)

    def __init__(self, lang: str = "en", auto_recognise: bool = True):
        super().__init__()
        self.lang = lang
        #: Folder a file dialog of a given kind opens in; the wiring points it at the settings.
        self.start_dir: Callable[[str], str] = lambda kind: ""
        self.error_box: QMessageBox | None = None
        self.setAcceptDrops(True)
        self.resize(960, 620)
        self.tabs = QTabWidget()
        self.single = SinglePanel()
        self.batch = BatchPanel()
        self.tabs.addTab(self.single, "")
        self.tabs.addTab(self.batch, "")
        self.setCentralWidget(self.tabs)
        self.single.auto_check.setChecked(auto_recognise)
        self._build_menus()
        self._connect()
        self.model_text = ""
        self.heatmap_on = False
        self.retranslate(lang)

    # --- construction ---------------------------------------------------------------------------
    def _build_menus(self) -> None:
        self.file_menu = self.menuBar().addMenu("")
        self.open_action = QAction(self, shortcut=QKeySequence.Open)
        self.paste_action = QAction(self, shortcut=QKeySequence.Paste)
        self.folder_action = QAction(self)
        self.model_action = QAction(self)
        self.exit_action = QAction(self, shortcut=QKeySequence.Quit)
        self.recognise_action = QAction(self, shortcut=QKeySequence("Ctrl+R"))
        for action in (self.open_action, self.paste_action, self.recognise_action, self.folder_action):
            self.file_menu.addAction(action)
        self.file_menu.addSeparator()
        self.file_menu.addAction(self.model_action)
        self.file_menu.addSeparator()
        self.file_menu.addAction(self.exit_action)
        self.language_menu = self.menuBar().addMenu("")
        group = QActionGroup(self)
        self.language_actions: dict[str, QAction] = {}
        for code in LANGUAGES:
            action = QAction(LANGUAGE_NAMES[code], self, checkable=True)
            action.setData(code)
            group.addAction(action)
            self.language_menu.addAction(action)
            self.language_actions[code] = action
        group.triggered.connect(lambda a: self.language_chosen.emit(a.data()))

    def _connect(self) -> None:
        s = self.single
        s.open_button.clicked.connect(self._on_open_image)
        self.open_action.triggered.connect(self._on_open_image)
        s.paste_button.clicked.connect(self.paste)
        self.paste_action.triggered.connect(self.paste)
        s.recognise_button.clicked.connect(self.recognise_requested)
        # The controller decides what a press means (make, show or hide the heat map); the button follows it.
        s.why_button.clicked.connect(self._on_why)
        self.recognise_action.triggered.connect(self.recognise_requested)
        s.auto_check.toggled.connect(self.auto_recognise_toggled)
        self.model_action.triggered.connect(self.ask_and_open_model)
        self.folder_action.triggered.connect(self._on_choose_folder)
        self.exit_action.triggered.connect(self.close)
        self.batch.choose_clicked.connect(self._on_choose_folder)
        self.batch.cancel_clicked.connect(self.cancel_requested)
        self.batch.export_clicked.connect(self._on_export)
        self.batch.copy_clicked.connect(self._on_copy)

    def retranslate(self, lang: str) -> None:
        """Redraw every fixed text in `lang`."""
        self.lang = lang
        t = lambda text, **kw: tr(text, lang, **kw)  # noqa: E731
        self.setWindowTitle(t("Animal recogniser"))
        self.file_menu.setTitle(t("&File"))
        self.language_menu.setTitle(t("&Language"))
        self.open_action.setText(t("Open image..."))
        self.paste_action.setText(t("Paste image"))
        self.recognise_action.setText(t("Recognise"))
        self.folder_action.setText(t("Open folder (batch)..."))
        self.model_action.setText(t("Open model..."))
        self.exit_action.setText(t("Exit"))
        self.tabs.setTabText(0, t("Single image"))
        self.tabs.setTabText(1, t("Folder (batch)"))
        self.language_actions[lang].setChecked(True)
        self.single.retranslate(lang)
        self.batch.retranslate(lang)
        self.show_model(self.model_text)

    # --- drawing (slots the controller's signals connect to) ---------------------------------------
    def show_model(self, text: str) -> None:
        self.model_text = text
        label = tr("Model: %(name)s", self.lang, name=text) if text else tr("Model: none", self.lang)
        self.single.result_panel.model_label.setText(label)

    def show_image(self, image: QImage) -> None:
        self.single.image_view.show_image(image)
        self.tabs.setCurrentWidget(self.single)

    def show_result(self, result) -> None:
        self.single.result_panel.show_result(
            result.rows, tr("Took %(ms).0f ms", self.lang, ms=result.elapsed_ms), result.unknown, result.note
        )

    def show_heatmap(self, view) -> None:
        """Draw the heat map over the picture; the button now goes back to the photo."""
        self.single.image_view.show_image(view.image)
        self._sync_why(True)

    def hide_heatmap(self) -> None:
        self._sync_why(False)

    def _sync_why(self, shown: bool | None = None) -> None:
        button = self.single.why_button
        button.setChecked(self.heatmap_on if shown is None else shown)
        if shown is not None:
            self.heatmap_on = shown
        self.single.retranslate_why(self.lang)

    def set_why_state(self, needs_torch: bool, reason: str) -> None:
        """Say on the button when this install cannot make heat maps, and why in its tooltip."""
        self.single.needs_torch = needs_torch
        self.single.why_button.setToolTip(reason or tr("Show which parts of the picture the answer came from (a heat map).", self.lang))
        self.single.retranslate_why(self.lang)

    def clear_result(self) -> None:
        self.single.result_panel.clear()

    def set_can_recognise(self, ok: bool) -> None:
        self.single.recognise_button.setEnabled(ok)
        self.single.why_button.setEnabled(ok)
        self.recognise_action.setEnabled(ok)

    def show_status(self, text: str) -> None:
        if text:
            self.statusBar().showMessage(text)
        else:
            self.statusBar().clearMessage()

    def batch_started(self, folder: str, total: int) -> None:
        self.tabs.setCurrentWidget(self.batch)
        self.batch.start(folder, total)

    def show_error(self, title: str, message: str) -> None:
        """A non-blocking error dialog; the window stays usable once it is closed."""
        if self.error_box is not None:
            self.error_box.close()
        box = QMessageBox(QMessageBox.Warning, title, message, QMessageBox.Ok, self)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.finished.connect(lambda _=None: setattr(self, "error_box", None))
        self.error_box = box
        box.open()

    # --- questions to the person (replaceable in tests) ----------------------------------------------
    def ask_open_image(self, start: str) -> str:
        path, _ = QFileDialog.getOpenFileName(
            self, tr("Choose an image", self.lang), start, f"{tr('Images', self.lang)} ({IMAGE_FILTER})"
        )
        return path

    def ask_model(self, start: str) -> str:
        path, _ = QFileDialog.getOpenFileName(
            self, tr("Choose a model file", self.lang), start, f"{tr('Models', self.lang)} (*.pt *.onnx)"
        )
        return path

    def ask_folder(self, title: str, start: str) -> str:
        return QFileDialog.getExistingDirectory(self, tr(title, self.lang), start)

    def ask_save_csv(self, start: str) -> str:
        path, _ = QFileDialog.getSaveFileName(
            self, tr("Save results as CSV", self.lang), str(Path(start) / "results.csv"), "CSV (*.csv)"
        )
        return path

    def confirm_exit(self) -> bool:
        answer = QMessageBox.question(
            self, tr("Exit", self.lang), tr("Do you want to exit the program?", self.lang),
            QMessageBox.Yes | QMessageBox.No, QMessageBox.No,
        )
        return answer == QMessageBox.Yes

    def ask_for_model(self) -> None:
        """Tell the person no model was found and let them choose one."""
        self.show_status(tr("No model found. Choose a model file (.pt or .onnx) to start.", self.lang))
        self.ask_and_open_model()

    # --- requests ---------------------------------------------------------------------------------
    def _on_why(self) -> None:
        self._sync_why()  # undo the button's own toggle: it shows what the controller draws
        self.heatmap_requested.emit()

    def _on_open_image(self) -> None:
        path = self.ask_open_image(self.start_dir("image"))
        if path:
            self.image_chosen.emit(path)

    def ask_and_open_model(self) -> None:
        path = self.ask_model(self.start_dir("model"))
        if path:
            self.model_chosen.emit(path)

    def _on_choose_folder(self) -> None:
        folder = self.ask_folder(N_("Choose a folder of pictures"), self.start_dir("batch"))
        if folder:
            self.folder_chosen.emit(folder)

    def _on_export(self) -> None:
        path = self.ask_save_csv(self.start_dir("export"))
        if path:
            self.export_chosen.emit(path)

    def _on_copy(self) -> None:
        folder = self.ask_folder(N_("Choose where to copy the class folders"), self.start_dir("copy"))
        if folder:
            self.copy_dest_chosen.emit(folder)

    def paste(self) -> None:
        """Take a picture (or a picture file) from the clipboard."""
        mime = QApplication.clipboard().mimeData()
        if not self._take_mime(mime):
            self.show_error(tr("Cannot open this image", self.lang), tr("The clipboard holds no image.", self.lang))

    def _take_mime(self, mime) -> bool:
        if mime is None:
            return False
        if mime.hasUrls():
            paths = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
            if paths:
                if Path(paths[0]).is_dir():
                    self.folder_chosen.emit(paths[0])
                else:
                    self.image_chosen.emit(paths[0])
                return True
        if mime.hasImage():
            image = QImage(mime.imageData())
            if not image.isNull():
                self.image_pasted.emit(image_to_png(image))
                return True
        return False

    # --- Qt events --------------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        mime = event.mimeData()
        if mime.hasImage() or any(u.isLocalFile() for u in mime.urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self._take_mime(event.mimeData()):
            event.acceptProposedAction()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        if not self.isVisible():  # already closed (or never shown): nothing to confirm
            event.accept()
        elif self.confirm_exit():
            self.closing.emit(self.saveGeometry())
            event.accept()
        else:
            event.ignore()
