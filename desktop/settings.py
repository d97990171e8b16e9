"""What the client remembers between runs (QSettings): window geometry, folders, model, language."""

from __future__ import annotations

from pathlib import Path

from PyQt5.QtCore import QByteArray, QSettings

ORGANISATION = "animal-classifier"
APPLICATION = "desktop"


class Settings:
    """Typed access to a QSettings store; tests pass an INI file so they never touch the user's."""

    def __init__(self, store: QSettings | None = None):
        self.store = store if store is not None else QSettings(ORGANISATION, APPLICATION)

    @classmethod
    def at(cls, path: str | Path) -> Settings:
        """Settings kept in the INI file at `path`."""
        return cls(QSettings(str(path), QSettings.IniFormat))

    def _str(self, key: str) -> str:
        value = self.store.value(key, "")
        return value if isinstance(value, str) else ""

    def _set(self, key: str, value) -> None:
        self.store.setValue(key, value)
        self.store.sync()

    # folders a file dialog opens in, one per kind of choice
    def last_dir(self, kind: str) -> str:
        """The folder last used for `kind` (image, model, batch, export, copy), or the home folder."""
        folder = self._str(f"dirs/{kind}")
        return folder if folder and Path(folder).is_dir() else str(Path.home())

    def remember_dir(self, kind: str, path: str | Path) -> None:
        """Remember the folder of `path` (or `path` itself when it is a folder) for `kind`."""
        p = Path(path)
        self._set(f"dirs/{kind}", str(p if p.is_dir() else p.parent))

    @property
    def geometry(self) -> QByteArray | None:
        value = self.store.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self._set("window/geometry", value)

    @property
    def language(self) -> str:
        """The language chosen in the menu, or "" to follow the system locale."""
        return self._str("ui/language")

    @language.setter
    def language(self, value: str) -> None:
        self._set("ui/language", value)

    @property
    def model_path(self) -> str:
        """The model file opened last with "Open model...", or ""."""
        return self._str("model/path")

    @model_path.setter
    def model_path(self, value: str) -> None:
        self._set("model/path", value)

    @property
    def last_image(self) -> str:
        return self._str("image/last")

    @last_image.setter
    def last_image(self, value: str) -> None:
        self._set("image/last", value)

    @property
    def auto_recognise(self) -> bool:
        value = self.store.value("image/auto_recognise", True)
        return value in (True, "true", "1", 1)

    @auto_recognise.setter
    def auto_recognise(self, value: bool) -> None:
        self._set("image/auto_recognise", bool(value))
