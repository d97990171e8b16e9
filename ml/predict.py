"""Load a model once, then classify pictures: `Predictor.load(path).predict(image) -> [(label, p)]`.

Two backends with identical preprocessing (numpy/PIL, `ml.transforms`) and postprocessing:
onnxruntime when `<stem>.onnx` and its `<stem>.json` metadata sit beside the model file (faster
on CPU, and needs no torch at all), eager torch otherwise. Torch is imported only by the torch
backend, so a desktop install without torch can still predict from the ONNX pair.

Both backends give the logits and the pooled features of one forward pass. Probabilities use the
model's fitted temperature (`ml.openset`); `classify` also says whether the picture looks like none
of the model's classes (`Prediction.unknown`), or `None` when the model file carries no such check.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .artifact import FORMAT_VERSION, ModelError, check_meta, public_info
from .errors import MLError
from .files import file_sha256, file_sha256_cached
from .images import ImageSource, load_image
from .openset import FEATURE_METHODS, METHODS, calibrated_probabilities, decode_bank, flag_unknown
from .operations.export import onnx_paths
from .transforms import normalise, to_square_uint8, top_k

__all__ = ["BACKENDS", "ModelError", "Prediction", "Predictor", "file_sha256", "onnx_paths"]

BACKENDS = ("auto", "onnx", "torch")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """One picture's answer: the likeliest `(class, probability)` pairs and the open-set verdict.

    `unknown` is True when the model's open-set check finds the picture like none of its classes,
    False when it passes, None when the model has no check ("not available"); `unknown_score` is
    the check's score (higher: less like any class), compared with the threshold in the model file.
    """

    top_k: list[tuple[str, float]]
    unknown: bool | None = None
    unknown_score: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly: `{"top_k": [{"label", "probability"}], "unknown", "unknown_score"}`."""
        return {
            "top_k": [{"label": label, "probability": prob} for label, prob in self.top_k],
            "unknown": self.unknown,
            "unknown_score": self.unknown_score,
        }


def _usable_open_set(meta: dict[str, Any], has_features: bool) -> tuple[dict[str, Any] | None, str | None]:
    """`(params ready to score with, None)`, or `(None, why not)`; `(None, None)` for a model without one."""
    params = meta.get("open_set")
    if not isinstance(params, dict) or "threshold" not in params:
        return None, None
    method = params.get("method")
    if method not in METHODS:
        return None, f"open-set method {method!r} is unknown to this version (it knows {', '.join(METHODS)})"
    try:
        threshold = float(params["threshold"])
        temperature = float(params.get("temperature", 1.0))
    except (TypeError, ValueError):
        return None, "its open-set threshold or temperature is not a number"
    if not (np.isfinite(threshold) and np.isfinite(temperature) and temperature > 0):
        return None, "its open-set threshold or temperature is not a finite number"
    ready = dict(params)
    if method in FEATURE_METHODS:
        if not has_features:
            return None, "its open-set check needs pooled features, which this ONNX export lacks (export it again)"
        try:
            bank = decode_bank(params.get("bank"))
        except (TypeError, ValueError):
            bank = np.zeros((0, 0), dtype=np.float32)
        if bank.ndim != 2 or not bank.size:
            return None, "its open-set feature bank is missing or not a list of vectors"
        ready["bank"] = bank  # converted once here, not on every picture
    return ready, None


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


def _file_stamps(*paths: Path) -> tuple[tuple[int, int], ...]:
    """(modification time, size) of each file; (0, 0) for one that is missing."""
    stamps = []
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            stamps.append((0, 0))
        else:
            stamps.append((st.st_mtime_ns, st.st_size))
    return tuple(stamps)


class Predictor:
    """A loaded classifier: thread-safe, shared per process through `Predictor.load` (the one predictor cache)."""

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
        self._open_set, problem = _usable_open_set(meta, runner.has_features)
        if problem:
            # Answers still come, without the unknown flag: better than refusing to classify at all.
            log.warning("%s: unknown-photo check disabled: %s", path.name, problem)
            self.info["open_set"] = None
            self.info["open_set_problem"] = problem

    @classmethod
    def load(cls, path: str | os.PathLike, backend: str = "auto", threads: int | None = None,
             device: str = "cpu") -> Predictor:
        """The process's one loaded copy of a model file, loaded on first use and again when its files change.

        The cache key is the path, backend, threads and device asked for, and the modification time and
        size of the model file, its `.onnx` export and its `.json` metadata: a model replaced in place (or
        exported after it was first loaded) is loaded again, and the old copy is dropped. Looking a
        loaded model up costs three `stat` calls, so a server may call this on every request.

        `threads` caps onnxruntime's intra-op threads for this model (None: onnxruntime's default,
        one per core). A server answering several requests at once should pass 1: each request then
        uses one core instead of every request spinning on all of them (see docs/pages.md).
        `device` ("cpu", "cuda", "mps", as resolved by `ml.device.pick_device`) is where the torch
        backend runs; any device but the CPU means the torch backend (onnxruntime runs on the CPU here).
        """
        given = Path(path)
        pt = given.with_suffix(".pt") if given.suffix == ".onnx" else given
        onnx, sidecar = onnx_paths(pt)
        if device != "cpu" and backend == "onnx":
            raise MLError(f"The ONNX backend runs on the CPU only; use the torch backend on {device}.", code="bad_backend")
        request = (str(pt.resolve()), backend, threads, device)
        key = (*request, _file_stamps(pt, onnx, sidecar))
        cached = cls._cache.get(key)
        if cached is not None:
            return cached
        with cls._cache_lock:
            cached = cls._cache.get(key)
            if cached is None:
                cached = cls._open(pt, onnx, sidecar, backend, threads, device)
                cls._cache = {k: v for k, v in cls._cache.items() if k[:4] != request} | {key: cached}
            return cached

    @classmethod
    def _open(cls, pt: Path, onnx: Path, sidecar: Path, backend: str, threads: int | None, device: str) -> Predictor:
        chosen = _choose_backend(pt, onnx, sidecar, "torch" if device != "cpu" and backend == "auto" else backend)
        main = onnx if chosen == "onnx" else pt
        if not main.is_file():
            if chosen == "onnx":
                raise ModelError(
                    f"No ONNX export at {onnx}: run `flask export-onnx {pt}` first.", code="model_missing"
                )
            raise ModelError(f"Model file not found: {pt}", code="model_missing")
        return cls._open_onnx(onnx, sidecar, threads) if chosen == "onnx" else cls._open_torch(pt, device)

    @classmethod
    def clear_cache(cls) -> None:
        """Forget every loaded model (tests, or after replacing files in place)."""
        with cls._cache_lock:
            cls._cache.clear()

    @classmethod
    def _open_torch(cls, pt: Path, device: str = "cpu") -> Predictor:
        from .artifact import build_from_artifact

        model, meta = build_from_artifact(pt)
        return cls(meta, pt, "torch", _TorchRunner(model, meta["arch"], device))

    @classmethod
    def _open_onnx(cls, onnx: Path, sidecar: Path, threads: int | None = None) -> Predictor:
        meta = _read_sidecar(sidecar)
        return cls(meta, onnx.with_suffix(".pt"), "onnx", _OnnxRunner(onnx, threads))

    # -- inference -------------------------------------------------------------------------

    def preprocess(self, images: Sequence[Any]) -> np.ndarray:
        """Decode and normalise pictures into one float32 NCHW batch."""
        pixels = [to_square_uint8(img if hasattr(img, "convert") else load_image(img, target=self.size), self.size) for img in images]
        return normalise(np.stack(pixels), self.mean, self.std)

    @property
    def has_open_set(self) -> bool:
        """Whether answers carry an unknown flag (the model file has a usable open-set check)."""
        return self._open_set is not None

    def forward(self, images: Sequence[Any]) -> tuple[np.ndarray, np.ndarray | None]:
        """`(logits, pooled features)` of one forward pass; features are None from a single-output ONNX file."""
        if not images:
            return np.zeros((0, len(self.classes)), dtype=np.float32), None
        return self._runner(self.preprocess(images))

    def probabilities(self, images: Sequence[Any]) -> np.ndarray:
        """Class probabilities (temperature-calibrated when the model has a temperature), one row per picture."""
        if not images:
            return np.zeros((0, len(self.classes)))
        return calibrated_probabilities(self.forward(images)[0], self.meta)

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

    def classify(self, image: ImageSource | Any, k: int = 3) -> Prediction:
        """The top-`k` pairs of one picture and whether it looks like none of the model's classes."""
        return self.classify_many([image], k=k)[0]

    def classify_many(self, images: Iterable[Any], k: int = 3, batch_size: int = 32) -> list[Prediction]:
        """`classify` for many pictures, run in batches of `batch_size`."""
        items = list(images)
        out: list[Prediction] = []
        for start in range(0, len(items), max(1, batch_size)):
            logits, features = self.forward(items[start : start + batch_size])
            flags, scores = self._unknown(logits, features)
            for i, top in enumerate(top_k(calibrated_probabilities(logits, self.meta), self.classes, k)):
                out.append(Prediction(
                    top,
                    None if flags is None else bool(flags[i]),
                    None if scores is None else float(scores[i]),
                ))
        return out

    def _unknown(self, logits: np.ndarray, features: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        if self._open_set is None:
            return None, None
        bank = self._open_set.get("bank")
        if isinstance(bank, np.ndarray) and features is not None and features.shape[1] != bank.shape[1]:
            raise ModelError(
                f"{self.path.name}: its open-set feature bank holds {bank.shape[1]}-number vectors, but the "
                f"model gives {features.shape[1]}; the file is inconsistent.",
                code="model_incompatible",
            )
        return flag_unknown(logits, features, {"open_set": self._open_set})

    def display_label(self, name: str, lang: str = "en") -> str:
        """The class `name` in language `lang` when the model file names it, else `name` itself."""
        labels = (self.info.get("display_names") or {}).get(lang)
        if labels and name in self.classes:
            return labels[self.classes.index(name)]
        return name

    def __repr__(self) -> str:
        return f"<Predictor {self.info['name']} {self.info['arch']} {self.backend} {len(self.classes)} classes>"


class _TorchRunner:
    """Eager torch inference: `(logits, features)` of one pass (eval mode; safe across threads)."""

    has_features = True

    def __init__(self, model: Any, arch: str, device: str = "cpu"):
        import torch

        from .models import LogitsAndFeatures

        self.device = torch.device(device)
        # channels-last: faster convolutions on CPU
        self.model = LogitsAndFeatures(model, arch).eval().to(self.device, memory_format=torch.channels_last)

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device).contiguous(memory_format=torch.channels_last)
            logits, features = self.model(x)
            return logits.float().cpu().numpy(), features.float().cpu().numpy()


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
        names = [o.name for o in self.session.get_outputs()]
        # Exports from before the "features" output have one output, the logits.
        self.output_names = ["logits" if "logits" in names else names[0]]
        if "features" in names:
            self.output_names.append("features")

    @property
    def has_features(self) -> bool:
        """Whether this export also gives the pooled features."""
        return len(self.output_names) == 2

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        got = self.session.run(self.output_names, {self.input_name: batch})
        return got[0], (got[1] if len(got) == 2 else None)
