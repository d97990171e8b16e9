"""The window's parts: picture area, result panel with probability bars, batch table. Drawing only."""

from __future__ import annotations

from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtGui import QImage, QPixmap
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .i18n import N_, percent, tr

TOP_K = 3


class ImageView(QLabel):
    """Shows the current picture scaled to fit, or a hint to drop, paste or open one."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAlignment(Qt.AlignCenter)
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setStyleSheet("QLabel { border: 2px dashed #9aa; border-radius: 8px; color: #567; background: #f7f9fa; }")
        self.setWordWrap(True)
        self._pixmap: QPixmap | None = None

    def show_hint(self, text: str) -> None:
        if self._pixmap is None:
            self.setText(text)

    def show_image(self, image: QImage) -> None:
        self._pixmap = QPixmap.fromImage(image)
        self._rescale()

    @property
    def has_image(self) -> bool:
        return self._pixmap is not None

    def _rescale(self) -> None:
        if self._pixmap is not None:
            self.setPixmap(self._pixmap.scaled(self.size() * 0.98, Qt.KeepAspectRatio, Qt.SmoothTransformation))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._rescale()


class ResultPanel(QGroupBox):
    """Top-k labels with probability bars, the model's name and the time taken."""

    def __init__(self, parent=None):
        super().__init__(parent)
        grid = QGridLayout(self)
        self.labels: list[QLabel] = []
        self.bars: list[QProgressBar] = []
        self.placeholder = QLabel()
        grid.addWidget(self.placeholder, 0, 0, 1, 2)
        for i in range(TOP_K):
            label = QLabel()
            label.setMinimumWidth(110)
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setTextVisible(True)
            grid.addWidget(label, i + 1, 0)
            grid.addWidget(bar, i + 1, 1)
            self.labels.append(label)
            self.bars.append(bar)
        self.labels[0].setStyleSheet("font-size: 15pt; font-weight: bold;")
        self.unknown_label = QLabel()  # the open-set verdict: a warning, or a small note
        self.unknown_label.setWordWrap(True)
        grid.addWidget(self.unknown_label, TOP_K + 3, 0, 1, 2)
        self.time_label = QLabel()
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.model_label.setStyleSheet("color: #567;")
        grid.addWidget(self.time_label, TOP_K + 1, 0, 1, 2)
        grid.addWidget(self.model_label, TOP_K + 2, 0, 1, 2)
        grid.setColumnStretch(1, 1)
        self.clear()

    def clear(self) -> None:
        for label, bar in zip(self.labels, self.bars, strict=True):
            label.setText("")
            bar.setValue(0)
            bar.setVisible(False)
        self.time_label.setText("")
        self.unknown_label.setText("")
        self.unknown_label.setVisible(False)
        self.placeholder.setVisible(True)

    def show_result(self, rows, time_text: str, unknown: bool | None = False, note: str = "") -> None:
        """Draw the top rows; `note` (the unknown verdict in words) as a warning when `unknown`, else small."""
        self.placeholder.setVisible(False)
        self.unknown_label.setText(note)
        self.unknown_label.setStyleSheet(
            "color: #a15c00; font-weight: bold;" if unknown else "color: #567; font-size: 8pt;"
        )
        self.unknown_label.setVisible(bool(note))
        for i, (label, bar) in enumerate(zip(self.labels, self.bars, strict=True)):
            if i < len(rows):
                shown, _name, prob = rows[i]
                label.setText(shown)
                bar.setValue(round(prob * 1000))
                bar.setFormat(percent(prob))
                bar.setVisible(True)
            else:
                label.setText("")
                bar.setVisible(False)
        self.time_label.setText(time_text)

    def shown_labels(self) -> list[str]:
        """The labels currently drawn, best first (for tests and screen readers)."""
        return [lb.text() for lb in self.labels if lb.text()]


class BatchPanel(QWidget):
    """Folder chooser, result table, progress bar, cancel, export and copy buttons."""

    choose_clicked = pyqtSignal()
    cancel_clicked = pyqtSignal()
    export_clicked = pyqtSignal()
    copy_clicked = pyqtSignal()

    COLUMNS = (N_("File"), N_("Label"), N_("Probability"), N_("Unknown?"), N_("Note"))

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.choose_button = QPushButton()
        self.folder_label = QLabel()
        self.folder_label.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        top.addWidget(self.choose_button)
        top.addWidget(self.folder_label, 1)
        layout.addLayout(top)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.Stretch)
        header.setSectionResizeMode(self.COLUMNS.index("Note"), QHeaderView.Stretch)
        layout.addWidget(self.table, 1)
        bottom = QHBoxLayout()
        self.progress = QProgressBar()
        self.cancel_button = QPushButton()
        self.export_button = QPushButton()
        self.copy_button = QPushButton()
        bottom.addWidget(self.progress, 1)
        for button in (self.cancel_button, self.export_button, self.copy_button):
            bottom.addWidget(button)
        layout.addLayout(bottom)
        self.summary_label = QLabel()
        layout.addWidget(self.summary_label)
        self.choose_button.clicked.connect(self.choose_clicked)
        self.cancel_button.clicked.connect(self.cancel_clicked)
        self.export_button.clicked.connect(self.export_clicked)
        self.copy_button.clicked.connect(self.copy_clicked)
        self.set_running(False)
        self.export_button.setEnabled(False)
        self.copy_button.setEnabled(False)

    def retranslate(self, lang: str) -> None:
        self.choose_button.setText(tr("Choose folder...", lang))
        self.cancel_button.setText(tr("Cancel", lang))
        self.export_button.setText(tr("Export CSV...", lang))
        self.copy_button.setText(tr("Copy into class folders...", lang))
        self.table.setHorizontalHeaderLabels([tr(c, lang) for c in self.COLUMNS])
        if self.table.rowCount() == 0 and not self.cancel_button.isEnabled():
            self.folder_label.setText(tr("No folder chosen.", lang))

    def start(self, folder: str, total: int) -> None:
        self.folder_label.setText(folder)
        self.table.setRowCount(0)
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(0)
        self.summary_label.setText("")

    def add_rows(self, rows) -> None:
        for name, shown, prob, unknown, note in rows:
            row = self.table.rowCount()
            self.table.insertRow(row)
            self.table.setItem(row, 0, QTableWidgetItem(name))
            self.table.setItem(row, 1, QTableWidgetItem(shown))
            prob_item = QTableWidgetItem("" if prob is None else percent(prob))
            prob_item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            self.table.setItem(row, 2, prob_item)
            self.table.setItem(row, 3, QTableWidgetItem(unknown))
            self.table.setItem(row, 4, QTableWidgetItem(note))
        self.table.scrollToBottom()

    def redraw_rows(self, rows) -> None:
        self.table.setRowCount(0)
        self.add_rows(rows)

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def set_running(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)
        self.choose_button.setEnabled(not running)
        has_rows = self.table.rowCount() > 0
        self.export_button.setEnabled(not running and has_rows)
        self.copy_button.setEnabled(not running and has_rows)

    def cell(self, row: int, column: int) -> str:
        item = self.table.item(row, column)
        return item.text() if item is not None else ""


class SinglePanel(QWidget):
    """The single-picture page: picture on the left; buttons and the result on the right."""

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        self.image_view = ImageView()
        layout.addWidget(self.image_view, 3)
        side = QVBoxLayout()
        self.open_button = QPushButton()
        self.paste_button = QPushButton()
        self.recognise_button = QPushButton()
        self.recognise_button.setDefault(True)
        self.recognise_button.setEnabled(False)
        self.why_button = QPushButton()  # "Why?": the heat map over the picture, toggled
        self.why_button.setCheckable(True)
        self.why_button.setEnabled(False)
        self.needs_torch = False  # set by the window: the button then says the heat map needs torch
        self.auto_check = QCheckBox()
        for w in (self.open_button, self.paste_button, self.recognise_button, self.why_button, self.auto_check):
            side.addWidget(w)
        self.result_panel = ResultPanel()
        side.addWidget(self.result_panel)
        side.addStretch(1)
        holder = QWidget()
        holder.setLayout(side)
        holder.setMinimumWidth(300)
        layout.addWidget(holder, 2)

    def retranslate(self, lang: str) -> None:
        self.open_button.setText(tr("Open image", lang))
        self.paste_button.setText(tr("Paste", lang))
        self.recognise_button.setText(tr("Recognise it", lang))
        self.retranslate_why(lang)
        self.auto_check.setText(tr("Recognise right after loading", lang))
        self.result_panel.setTitle(tr("Result", lang))
        self.result_panel.placeholder.setText(tr("No result yet.", lang))
        self.image_view.show_hint(
            tr("Drop a picture here, paste one (Ctrl+V), or click “Open image”.", lang)
        )

    def retranslate_why(self, lang: str) -> None:
        """The "Why?" button's text: back to the photo while the heat map shows; says so when torch is missing."""
        if self.why_button.isChecked():
            self.why_button.setText(tr("Show the photo", lang))
        elif self.needs_torch:
            self.why_button.setText(tr("Why? (needs torch)", lang))
        else:
            self.why_button.setText(tr("Why?", lang))
