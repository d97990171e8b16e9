"""Typed errors a person can cause, each with a stable code and a readable message."""


class MLError(Exception):
    """Base class for every error the pipeline reports to a person."""

    code = "ml_error"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code


class Cancelled(MLError):
    """Raised when a `should_stop` callback asked a long operation to stop."""

    code = "cancelled"


class DatasetError(MLError):
    """A dataset folder cannot be used as asked (missing, empty, not split yet, too small)."""

    code = "dataset_error"
