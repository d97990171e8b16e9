"""Confusion-matrix heatmaps that render class names legibly, Chinese included; reliability diagrams.

Matplotlib's default font (DejaVu Sans) has no Chinese glyphs. The project ships one that does:
Noto Sans CJK from the pinned pip package `noto-cjk-sans-otc` (requirements.txt), registered with
matplotlib when a picture is drawn, so 猫牛狗马羊 render on any machine with no system font.
Without that package, a system CJK font (WenQuanYi, Source Han, SimHei, ...) is looked up instead.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

from .files import atomic_path

#: File-name fragments of fonts known to cover Chinese (lower case).
CJK_FONT_HINTS = (
    "notosanscjk", "notoserifcjk", "noto-cjk", "sourcehansans", "wqy-microhei", "wqy-zenhei",
    "wenquanyi", "simhei", "msyh", "simsun", "pingfang", "droidsansfallback", "notosanssc", "arialuni",
)


#: The importable package carrying the bundled font file, and the face of its collection we draw with.
BUNDLED_FONT_PACKAGE = "noto_cjk_sans_otc"
BUNDLED_FONT_FAMILY = "Noto Sans CJK SC"


def bundled_cjk_font_path() -> str | None:
    """The CJK font file installed with the project's requirements, or None when the package is absent."""
    import importlib

    try:
        package = importlib.import_module(BUNDLED_FONT_PACKAGE)
    except ImportError:
        return None
    path = Path(str(package.FONT_PATH))
    return str(path) if path.is_file() else None


def system_cjk_font_path() -> str | None:
    """A system font file that covers Chinese, or None when the machine has none."""
    from matplotlib import font_manager

    candidates = []
    for path in font_manager.findSystemFonts():
        flat = os.path.basename(path).lower().replace(" ", "")
        if any(hint in flat for hint in CJK_FONT_HINTS):
            candidates.append(path)
    # Sans-serif, regular weight first: the most legible at small sizes.
    candidates.sort(key=lambda p: ("serif" in p.lower(), "bold" in p.lower(), "mono" in p.lower(), p))
    return candidates[0] if candidates else None


@functools.lru_cache(maxsize=1)
def cjk_font_path() -> str | None:
    """The font file used for Chinese labels: the bundled one, else a system one, else None."""
    return bundled_cjk_font_path() or system_cjk_font_path()


@functools.lru_cache(maxsize=1)
def cjk_font():
    """Matplotlib font properties for Chinese labels (the font registered on first use), or None."""
    from matplotlib import font_manager, ft2font

    path = cjk_font_path()
    if path is None:
        return None
    font_manager.fontManager.addfont(path)  # every face of a .ttc collection, under its own family name
    collection = ft2font.FT2Font(path)
    families = [ft2font.FT2Font(path, face_index=i).family_name for i in range(collection.num_faces)]
    # The Simplified Chinese face of a collection (Noto's default face is the Japanese one).
    family = BUNDLED_FONT_FAMILY if BUNDLED_FONT_FAMILY in families else families[0]
    return font_manager.FontProperties(family=family)


def _needs_cjk(labels: Sequence[str]) -> bool:
    return any(ord(ch) > 0x2E7F for label in labels for ch in label)


def render_confusion(
    confusion: Sequence[Sequence[int]],
    classes: Sequence[str],
    path: str | os.PathLike,
    *,
    title: str = "",
) -> Path:
    """Draw a count heatmap (rows = true class, columns = predicted) with class names to a PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import numpy as np
    from matplotlib.figure import Figure

    matrix = np.asarray(confusion, dtype=np.int64)
    n = len(classes)
    font = None
    labels = list(classes)
    if _needs_cjk([*labels, title]):
        font = cjk_font()
        if font is None and _needs_cjk(labels):
            # No font can draw these names: number the axes and keep the names out of the picture.
            labels = [f"#{i}" for i in range(n)]
    side = max(4.0, 1.2 + 0.55 * n)
    fig = Figure(figsize=(side + 1.2, side), dpi=120)
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(n), labels, rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center", fontproperties=font)
    ax.set_yticks(range(n), labels, fontproperties=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontproperties=font)
    peak = matrix.max() if matrix.size else 0
    for i in range(n):
        for j in range(n):
            value = int(matrix[i, j])
            ax.text(j, i, str(value), ha="center", va="center", fontsize=9,
                    color="white" if peak and value > peak * 0.6 else "black")
    fig.tight_layout()
    return _save_png(fig, path)


def confusion_image(confusion, classes, title: str = ""):
    """The same heatmap as an HWC uint8 array (for TensorBoard's `add_image`)."""
    import tempfile

    import numpy as np
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        png = render_confusion(confusion, classes, Path(tmp) / "c.png", title=title)
        with Image.open(png) as img:
            return np.asarray(img.convert("RGB"))


def render_reliability(
    bins: Sequence[dict],
    path: str | os.PathLike,
    *,
    title: str = "",
    ece: float | None = None,
) -> Path:
    """Draw a reliability diagram (accuracy against top-1 confidence per bin, pictures per bin below) to a PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import font_manager
    from matplotlib.figure import Figure

    font = None
    if _needs_cjk([title]) and cjk_font_path():
        font_manager.fontManager.addfont(cjk_font_path())
        font = font_manager.FontProperties(fname=cjk_font_path())
    used = [b for b in bins if b.get("count")]
    fig = Figure(figsize=(5.2, 6.0), dpi=120)
    grid = fig.add_gridspec(2, 1, height_ratios=(3, 1), hspace=0.08)
    ax, hist = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
    width = [b["upper"] - b["lower"] for b in used]
    left = [b["lower"] for b in used]
    ax.bar(left, [b["accuracy"] for b in used], width=width, align="edge", color="#4c72b0", edgecolor="white",
           label="accuracy")
    # The gap between what the model claimed and what it achieved, per bin.
    ax.bar(left, [abs(b["confidence"] - b["accuracy"]) for b in used],
           bottom=[min(b["confidence"], b["accuracy"]) for b in used], width=width, align="edge",
           facecolor="none", edgecolor="#c44e52", hatch="///", linewidth=0.8, label="gap to mean confidence")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_xticklabels([])
    ax.legend(loc="upper left", fontsize=8)
    heading = title + (f"  (ECE {ece:.3f})" if ece is not None else "")
    if heading:
        ax.set_title(heading, fontproperties=font)
    hist.bar(left, [b["count"] for b in used], width=width, align="edge", color="grey", edgecolor="white")
    hist.set_xlim(0, 1)
    hist.set_xlabel("top-1 confidence")
    hist.set_ylabel("pictures")
    fig.subplots_adjust(left=0.14, right=0.96, top=0.93, bottom=0.09)
    return _save_png(fig, path)


def _save_png(fig, path: str | os.PathLike) -> Path:
    """Write a figure to a PNG through a temporary file, so a reader never sees half a picture."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
