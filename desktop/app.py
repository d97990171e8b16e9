"""Builds the client: settings, language, controller and window, connected to each other."""

from __future__ import annotations

from PyQt5.QtCore import QLocale

from ml.explain import torch_available

from .controller import Controller
from .i18n import LANGUAGES, language_for_locale
from .settings import Settings
from .window import MainWindow


def pick_language(settings: Settings, override: str | None = None) -> str:
    """The UI language: `override`, else the one chosen in the menu, else the system locale's."""
    for lang in (override, settings.language):
        if lang in LANGUAGES:
            return lang
    return language_for_locale(QLocale.system().name())


def wire(window: MainWindow, controller: Controller) -> None:
    """Connect the window's requests to the controller and the controller's news to the window."""
    window.start_dir = controller.settings.last_dir
    window.image_chosen.connect(controller.open_image)
    window.image_pasted.connect(lambda data: controller.open_image_bytes(data, "clipboard"))
    window.recognise_requested.connect(controller.recognise)
    window.heatmap_requested.connect(controller.toggle_heatmap)
    window.auto_recognise_toggled.connect(controller.set_auto_recognise)
    window.model_chosen.connect(controller.open_model)
    window.folder_chosen.connect(controller.run_batch)
    window.cancel_requested.connect(controller.cancel_batch)
    window.export_chosen.connect(controller.export_csv)
    window.copy_dest_chosen.connect(controller.copy_into_class_folders)
    window.language_chosen.connect(controller.set_language)
    window.closing.connect(controller.shutdown)

    controller.language_changed.connect(window.retranslate)
    controller.model_changed.connect(window.show_model)
    controller.model_needed.connect(window.ask_for_model)
    controller.image_changed.connect(window.show_image)
    controller.result_ready.connect(window.show_result)
    controller.result_cleared.connect(window.clear_result)
    controller.heatmap_ready.connect(window.show_heatmap)
    controller.heatmap_hidden.connect(window.hide_heatmap)
    controller.can_recognise.connect(window.set_can_recognise)
    controller.status.connect(window.show_status)
    controller.error.connect(window.show_error)
    controller.batch_started.connect(lambda total: window.batch_started(controller.settings.last_dir("batch"), total))
    controller.batch_rows.connect(window.batch.add_rows)
    controller.batch_redrawn.connect(window.batch.redraw_rows)
    controller.batch_progress.connect(window.batch.set_progress)
    controller.batch_running.connect(window.batch.set_running)
    controller.batch_done.connect(window.batch.summary_label.setText)

    def refresh_why(*_) -> None:
        window.set_why_state(not torch_available(), controller.explain_unavailable())

    controller.model_changed.connect(refresh_why)
    controller.language_changed.connect(refresh_why)
    refresh_why()


def build(settings: Settings | None = None, lang: str | None = None) -> tuple[MainWindow, Controller]:
    """A connected window and controller (a QApplication must exist already)."""
    settings = settings or Settings()
    lang = pick_language(settings, lang)
    controller = Controller(settings, lang)
    window = MainWindow(lang, auto_recognise=settings.auto_recognise)
    if settings.geometry is not None:
        window.restoreGeometry(settings.geometry)
    wire(window, controller)
    return window, controller
