"""Where training, feature caching and evaluation run: CUDA or Apple's MPS when present, else the CPU.

    device = pick_device("auto")          # Device(type="cuda", name="NVIDIA H200", amp="bfloat16")
    model.to(device.torch)
    with device.autocast():               # mixed precision on CUDA only; a no-op elsewhere
        loss = criterion(model(x.to(device.torch)), y)

Mixed precision (`torch.autocast`) is used on CUDA only: bfloat16 where the GPU supports it (no loss
scaling needed), float16 with a `GradScaler` otherwise. The CPU and MPS run in float32.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

from .choices import DEVICES
from .errors import MLError


@dataclass(frozen=True)
class Device:
    """A resolved device: `type` is cpu, cuda or mps; `amp` the autocast dtype name, or None (float32)."""

    type: str
    name: str
    amp: str | None = None

    @property
    def torch(self):
        """The `torch.device` to move models and tensors to."""
        import torch

        return torch.device(self.type)

    @property
    def label(self) -> str:
        """One line for logs and CLIs: `cuda (NVIDIA H200), mixed precision bfloat16`."""
        precision = f"mixed precision {self.amp}" if self.amp else "float32"
        return f"{self.type} ({self.name}), {precision}"

    def autocast(self) -> contextlib.AbstractContextManager:
        """`torch.autocast` in this device's mixed precision, or a context that does nothing."""
        if not self.amp:
            return contextlib.nullcontext()
        import torch

        return torch.autocast(device_type=self.type, dtype=getattr(torch, self.amp))

    def grad_scaler(self):
        """A `GradScaler` that scales float16 losses and passes everything else through unchanged."""
        import torch

        return torch.amp.GradScaler("cuda", enabled=self.type == "cuda" and self.amp == "float16")

    def as_meta(self) -> dict[str, Any]:
        """What a model file records about where it was trained."""
        return {"type": self.type, "name": self.name, "amp": self.amp}


#: The processor, in float32: what every step used before accelerators were supported.
CPU = Device("cpu", f"{os.cpu_count()} cores")


def _cuda_problem(torch) -> str:
    built = torch.version.cuda
    if not built:
        return f"this PyTorch ({torch.__version__}) was built without CUDA support"
    return f"no CUDA GPU is visible to PyTorch {torch.__version__} (built for CUDA {built}; check the driver)"


def pick_device(requested: str = "auto", amp: bool = True) -> Device:
    """The device asked for (`auto`: CUDA, then MPS, then CPU); MLError when it is not available here."""
    import torch

    if requested not in DEVICES:
        raise MLError(f"Unknown device {requested!r}; choose one of {', '.join(DEVICES)}.", code="bad_config")
    has_cuda = torch.cuda.is_available()
    has_mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if requested == "cuda" and not has_cuda:
        raise MLError(f"CUDA was asked for (device cuda), but {_cuda_problem(torch)}. "
                      "Use device auto or cpu.", code="device_unavailable")
    if requested == "mps" and not has_mps:
        raise MLError("Apple's MPS was asked for (device mps), but this machine has no MPS device "
                      "(it needs an Apple-silicon Mac and a PyTorch built with MPS). Use device auto or cpu.",
                      code="device_unavailable")
    kind = requested if requested != "auto" else ("cuda" if has_cuda else "mps" if has_mps else "cpu")
    if kind == "cuda":
        dtype = ("bfloat16" if torch.cuda.is_bf16_supported() else "float16") if amp else None
        return Device("cuda", torch.cuda.get_device_name(0), dtype)
    if kind == "mps":
        return Device("mps", "Apple MPS")
    return CPU
