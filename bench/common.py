"""What every benchmark script shares: a description of the machine and writing its JSON result."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """The facts that make two runs comparable."""
    info: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    try:
        info["load_average"] = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        pass
    return info


def write_result(path: Path, result: dict[str, Any]) -> dict[str, Any]:
    """Write `result` as JSON to `path` (folders made as needed), say where, and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"\nwrote {path}")
    return result
