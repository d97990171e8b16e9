"""Load a model once, then classify pictures: `Predictor.load(path).predict(image) -> [(label, p)]`.

Two backends with identical preprocessing (numpy/PIL, `ml.transforms`) and postprocessing:
onnxruntime when `<stem>.onnx` and its `<stem>.json` metadata sit beside the model file (faster
on CPU, and needs no torch at all), eager torch otherwise. Torch is imported only by the torch
backend, so a desktop install without torch can still predict from the ONNX pair.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .artifact import FORMAT_VERSION, ModelError, check_meta, public_info
from .errors import MLError
from .files import file_sha256, file_sha256_cached
from .images import ImageSource, load_image
from .transforms import normalise, softmax, to_square_uint8, top_k

__all__ = ["BACKENDS", "ModelError", "Predictor", "file_sha256", "onnx_paths"]

BACKENDS = ("auto", "onnx", "torch")


def onnx_paths(model_path: str | os.PathLike) -> tuple[Path, Path]:
    """Where the ONNX export of a model file and its JSON metadata live: `<stem>.onnx`, `<stem>.json`."""
    path = Path(model_path)
    return path.with_suffix(".onnx"), path.with_suffix(".json")


def _onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _read_sidecar(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"ONNX metadata file not found: {path}", code="model_missing") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path.name} is not readable JSON metadata ({exc}).", code="model_corrupt") from None
    if not isinstance(meta, dict):
        raise ModelError(f"{path.name} is not model metadata.", code="model_corrupt")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelError(f"{path.name} was written by an unknown or newer version.", code="model_incompatible")
    return check_meta(meta, path.name)


def _choose_backend(pt: Path, onnx: Path, sidecar: Path, backend: str) -> str:
    if backend not in BACKENDS:
        raise MLError(f"Unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}.", code="bad_backend")
    if backend != "auto":
        return backend
    if onnx.is_file() and sidecar.is_file() and _onnxruntime_available():
        if not pt.is_file():
            return "onnx"
        try:
            source = json.loads(sidecar.read_text(encoding="utf-8")).get("source_sha256")
        except (OSError, ValueError):
            source = None
        # A model retrained after its export leaves a stale .onnx beside it: use the fresh weights.
        if source == file_sha256_cached(pt):
            return "onnx"
    return "torch"


class Predictor:
    """A loaded classifier: thread-safe, shared per process through `Predictor.load`."""

    _cache: dict[tuple, Predictor] = {}
    _cache_lock = threading.Lock()

    def __init__(self, meta: dict[str, Any], path: Path, backend: str, runner: Any):
        self.meta = meta
        self.path = path
        self.backend = backend
        self.classes: list[str] = list(meta["classes"])
        self.size = int(meta["input_size"])
        self.mean = tuple(float(v) for v in meta["mean"])
        self.std = tuple(float(v) for v in meta["std"])
        self.info: dict[str, Any] = public_info(meta, path) | {"backend": backend}
        self._runner = runner

    @classmethod
    def load(cls, path: str | os.PathLike, backend: str = "auto", threads: int | None = None) -> Predictor:
        """Load a model file once per process (cached by path, backend, threads and file times).

        `threads` caps onnxruntime's intra-op threads for this model (None: onnxruntime's default,
        one per core). A server answering several requests at once should pass 1: each request then
        uses one core instead of every request spinning on all of them (see docs/pages.md).
        """
        given = Path(path)
        pt = given.with_suffix(".pt") if given.suffix == ".onnx" else given
        onnx, sidecar = onnx_paths(pt)
        chosen = _choose_backend(pt, onnx, sidecar, backend)
        main = onnx if chosen == "onnx" else pt
        if not main.is_file():
            if chosen == "onnx":
                raise ModelError(
                    f"No ONNX export at {onnx}: run `flask export-onnx {pt}` first.", code="model_missing"
                )
            raise ModelError(f"Model file not found: {pt}", code="model_missing")
        stamp = tuple(p.stat().st_mtime_ns if p.exists() else 0 for p in (main, sidecar))
        key = (str(main.resolve()), chosen, threads, stamp)
        with cls._cache_lock:
            cached = cls._cache.get(key)
            if cached is None:
                cached = cls._open_onnx(onnx, sidecar, threads) if chosen == "onnx" else cls._open_torch(pt)
                cls._cache = {k: v for k, v in cls._cache.items() if k[:3] != key[:3]}
                cls._cache[key] = cached
            return cached

    @classmethod
    def clear_cache(cls) -> None:
        """Forget every loaded model (tests, or after replacing files in place)."""
        with cls._cache_lock:
            cls._cache.clear()

    @classmethod
    def _open_torch(cls, pt: Path) -> Predictor:
        from .artifact import build_from_artifact

        model, meta = build_from_artifact(pt)
        return cls(meta, pt, "torch", _TorchRunner(model))

    @classmethod
    def _open_onnx(cls, onnx: Path, sidecar: Path, threads: int | None = None) -> Predictor:
        meta = _read_sidecar(sidecar)
        return cls(meta, onnx.with_suffix(".pt"), "onnx", _OnnxRunner(onnx, threads))

    # -- inference -------------------------------------------------------------------------

    def preprocess(self, images: Sequence[Any]) -> np.ndarray:
        """Decode and normalise pictures into one float32 NCHW batch."""
        pixels = [to_square_uint8(img if hasattr(img, "convert") else load_image(img, target=self.size), self.size) for img in images]
        return normalise(np.stack(pixels), self.mean, self.std)

    def probabilities(self, images: Sequence[Any]) -> np.ndarray:
        """Class probabilities, one row per picture."""
        if not images:
            return np.zeros((0, len(self.classes)))
        return softmax(self._runner(self.preprocess(images)))

    def predict(self, image: ImageSource | Any, k: int = 3) -> list[tuple[str, float]]:
        """The `k` most likely `(class, probability)` pairs for one picture, most likely first."""
        return top_k(self.probabilities([image]), self.classes, k)[0]

    def predict_many(self, images: Iterable[Any], k: int = 3, batch_size: int = 32) -> list[list[tuple[str, float]]]:
        """`predict` for many pictures, run in batches of `batch_size`."""
        items = list(images)
        out: list[list[tuple[str, float]]] = []
        for start in range(0, len(items), max(1, batch_size)):
            out.extend(top_k(self.probabilities(items[start : start + batch_size]), self.classes, k))
        return out

    def display_label(self, name: str, lang: str = "en") -> str:
        """The class `name` in language `lang` when the model file names it, else `name` itself."""
        labels = (self.info.get("display_names") or {}).get(lang)
        if labels and name in self.classes:
            return labels[self.classes.index(name)]
        return name

    def __repr__(self) -> str:
        return f"<Predictor {self.info['name']} {self.info['arch']} {self.backend} {len(self.classes)} classes>"


class _TorchRunner:
    """Eager torch inference (one model in eval mode; forward passes are safe across threads)."""

    def __init__(self, model: Any):
        import torch

        self.model = model.to(memory_format=torch.channels_last)  # faster convolutions on CPU

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(batch).contiguous(memory_format=torch.channels_last)
            return self.model(x).float().numpy()


class _OnnxRunner:
    """onnxruntime inference; `InferenceSession.run` is thread-safe."""

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            # Idle pool threads would otherwise busy-wait and steal the cores other requests need.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own assorted types
            raise ModelError(f"{path.name} is not a loadable ONNX model ({str(exc)[:200]}).", code="model_corrupt") from None
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]
