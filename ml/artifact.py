"""The model file: one self-describing artifact holding weights plus everything needed to use them.

Layout (a `torch.save` zip read back with `weights_only=True`, so loading never runs pickled code):

    {"format": "animal-classifier-model", "format_version": 1,
     "meta": {arch, classes, display_names, input_size, mean, std, train_config, metrics,
              dataset, created, versions, ...},
     "state_dict": {name: tensor}}

Torch is imported inside functions: the ONNX prediction path imports this module without torch.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import MLError
from .files import atomic_path
from .openset import bank_size, temperature_of

FORMAT = "animal-classifier-model"
FORMAT_VERSION = 1
#: Metadata keys every model file must carry.
REQUIRED_META = ("arch", "classes", "input_size", "mean", "std")


class ModelError(MLError):
    """A model file is missing, damaged or not usable by this version ("model_*" codes)."""

    code = "model_error"


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a model's numbers, for the record."""
    import numpy
    import torch

    versions = {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__}
    for name in ("torchvision", "timm", "onnx", "onnxruntime"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            pass
    return versions


def now_iso() -> str:
    """The current UTC time as an ISO-8601 string (seconds)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json_clean(value: Any) -> Any:
    """Round-trip through JSON: metadata must hold only plain values (safe to load, easy to show)."""
    return json.loads(json.dumps(value, ensure_ascii=False))


def check_meta(meta: dict[str, Any], source: str) -> dict[str, Any]:
    """Raise model_incompatible unless `meta` has what prediction needs."""
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise ModelError(f"{source} lacks {', '.join(missing)} in its metadata.", code="model_incompatible")
    classes = meta["classes"]
    if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) for c in classes):
        raise ModelError(f"{source} has no usable class list.", code="model_incompatible")
    names = meta.get("display_names") or {}
    for lang, labels in names.items():
        if not isinstance(labels, list) or len(labels) != len(classes):
            raise ModelError(
                f"{source}: display_names[{lang!r}] must list one name per class ({len(classes)}).",
                code="model_incompatible",
            )
    return meta


def save_artifact(path: str | os.PathLike, state_dict: dict, meta: dict[str, Any]) -> Path:
    """Write weights and metadata to `path` through a temporary file, so it is never half-written."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = check_meta(_json_clean(meta), str(path))
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "meta": meta,
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in state_dict.items()},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_artifact(path: str | os.PathLike) -> tuple[dict[str, Any], dict]:
    """Read `(meta, state_dict)` from a model file, refusing anything but plain tensors and values."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"Model file not found: {path}", code="model_missing")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" not in str(exc).lower():  # not a refused object: the bytes are simply not a model
            raise ModelError(
                f"{path.name} is not a readable model file (damaged or not a PyTorch file).", code="model_corrupt"
            ) from None
        raise ModelError(
            f"Refused to load {path.name}: it contains pickled Python objects, which could run code "
            f"({str(exc).splitlines()[0][:200]}). Only model files written by this program are accepted.",
            code="model_corrupt",
        ) from None
    except Exception as exc:  # noqa: BLE001 - truncated zip, random bytes, wrong format: all "corrupt"
        raise ModelError(
            f"{path.name} is not a readable model file (damaged or not a PyTorch file): {str(exc)[:200]}",
            code="model_corrupt",
        ) from None
    if not isinstance(payload, dict):
        raise ModelError(f"{path.name} does not hold a model.", code="model_corrupt")
    if payload.get("format") != FORMAT:
        hint = ""
        if all(isinstance(k, str) for k in payload) and any(k.endswith(".weight") for k in payload):
            hint = " It looks like a bare state dict (for example the old resnet18_e_best.pth), which lacks class names."
        raise ModelError(f"{path.name} is not an animal-classifier model file.{hint}", code="model_incompatible")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelError(
            f"{path.name} was written by a newer version (format {version}; this program reads up to "
            f"{FORMAT_VERSION}). Upgrade to use it.",
            code="model_incompatible",
        )
    meta, state = payload.get("meta"), payload.get("state_dict")
    if not isinstance(meta, dict) or not isinstance(state, dict):
        raise ModelError(f"{path.name} lacks metadata or weights.", code="model_corrupt")
    return check_meta(meta, path.name), state


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """Only the metadata of a model file."""
    return load_artifact(path)[0]


def build_from_artifact(path: str | os.PathLike):
    """`(model in eval mode, meta)` rebuilt from a model file, without any pretrained download."""
    from .models import build_model

    meta, state = load_artifact(path)
    try:
        model = build_model(meta["arch"], len(meta["classes"]), pretrained="none")
    except MLError as exc:
        raise ModelError(f"{Path(path).name}: {exc.message}", code="model_incompatible") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(
            f"{Path(path).name}: weights do not fit a {meta['arch']} model ({str(exc).splitlines()[0][:200]}).",
            code="model_incompatible",
        ) from None
    model.eval()
    return model, meta


def public_info(meta: dict[str, Any], path: str | os.PathLike) -> dict[str, Any]:
    """The JSON-friendly description other parts show: arch, classes, metrics, versions, name."""
    keys = ("arch", "classes", "display_names", "input_size", "mean", "std", "metrics", "created",
            "dataset", "versions", "train_config", "pretrained")
    info = {k: meta.get(k) for k in keys}
    info["display_names"] = info["display_names"] or {}
    info["metrics"] = info["metrics"] or {}
    info["normalisation"] = {"mean": meta["mean"], "std": meta["std"]}
    info["dataset_fingerprint"] = (meta.get("dataset") or {}).get("fingerprint")
    info["name"] = Path(path).stem
    info["temperature"] = temperature_of(meta)
    info["open_set"] = open_set_summary(meta.get("open_set"))
    from .evaluations import summarise_evaluations

    info["evaluations"] = summarise_evaluations(path)
    return info


def open_set_summary(params: Any) -> dict[str, Any] | None:
    """The open-set check's plain settings (method, threshold, ...) and bank size, never the bank; None if absent."""
    if not isinstance(params, dict) or "threshold" not in params:
        return None
    summary = {k: v for k, v in params.items() if isinstance(v, (str, int, float, bool)) or v is None}
    size = bank_size(params.get("bank"))
    if size is not None:
        summary["bank_size"] = size
    return summary
