"""Does fine-tuning the last blocks beat the linear probe on photos from other sources? (selection protocol)

    python bench/recipes_finetune.py [--epochs 4]

EfficientNet-Lite2 at 260 px. The frozen part (stem and stages 0-4) runs once per picture through
onnxruntime and its feature maps are cached; stages 5-6, the head conv and the classifier then
learn on them (BatchNorm statistics frozen, backbone at a tenth of the head's rate, AdamW), starting
from the linear probe's head (LP-FT). Also WiSE-FT: the fine-tuned weights averaged with the
starting ones. Trained on animals5 (centre + mirror), scored on the dev sources (bench/recipes.py).
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.recipes import CLASSES, TEST_SOURCES, catalogue  # noqa: E402

SPLIT_STAGE = 5  # stages before this one stay frozen


def _model():
    import timm

    from ml.models import LITE_STAGE_DEPTHS, _read_state_dict, lite_package_weights, map_lite_keys

    model = timm.create_model("tf_efficientnet_lite2", pretrained=False)
    model.load_state_dict(map_lite_keys(_read_state_dict(lite_package_weights(2)), LITE_STAGE_DEPTHS[2]))
    model.classifier = nn.Linear(model.classifier.in_features, len(CLASSES))
    return model.eval()


class Frozen(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        x = self.m.bn1(self.m.conv_stem(x))
        for stage in self.m.blocks[:SPLIT_STAGE]:
            x = stage(x)
        return x


class Top(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.blocks = m.blocks[SPLIT_STAGE:]
        self.conv_head, self.bn2, self.classifier = m.conv_head, m.bn2, m.classifier

    def features(self, x):
        for stage in self.blocks:
            x = stage(x)
        return self.bn2(self.conv_head(x)).mean((2, 3))

    def forward(self, x):
        return self.classifier(self.features(x))


def frozen_session(model):
    """An onnxruntime session of the frozen stem and stages 0-4 (input `x`, 260 px)."""
    import onnxruntime as ort

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The wrapper must be in eval mode too: the exporter restores the wrapper's mode onto the model.
        torch.onnx.export(Frozen(model).eval(), torch.zeros(1, 3, 260, 260), buf, input_names=["x"],
                          dynamic_axes={"x": {0: "n"}}, dynamo=False)
    return ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])


def cache_maps(model, rows, views: int) -> tuple[np.ndarray, np.ndarray]:
    from tqdm import tqdm

    from bench.recipes import _views
    from ml.images import ImageError, load_image
    from ml.transforms import normalise

    session = frozen_session(model)
    maps, ok = [], []
    rng = np.random.default_rng(0)
    for row in tqdm(rows, desc="frozen stages", unit="photo"):
        try:
            img = load_image(row["path"], target=260)
        except ImageError:
            ok.append(False)
            continue
        ok.append(True)
        x = normalise(np.stack(_views(img, 260, rng, 3)[:views]), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
        maps.append(session.run(None, {"x": x})[0].astype(np.float16))
    return np.stack(maps), np.array(ok)


def evaluate(top: Top, maps: np.ndarray, labels: np.ndarray) -> float:
    top.eval()
    with torch.inference_mode():
        z = torch.cat([top(torch.from_numpy(maps[i : i + 64, 0].astype(np.float32))) for i in range(0, len(maps), 64)])
    return float((z.argmax(1).numpy() == labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    rows = catalogue()
    train_rows = [r for r in rows if r["group"] == "animals5"]
    dev_rows = [r for r in rows if r["group"] == "more" and r["source"] not in TEST_SOURCES]
    model = _model()
    train_maps, ok = cache_maps(model, train_rows, 2)
    train_y = np.array([CLASSES.index(r["label"]) for r, good in zip(train_rows, ok) if good])
    dev_maps, ok = cache_maps(model, dev_rows, 1)
    dev_y = np.array([CLASSES.index(r["label"]) for r, good in zip(dev_rows, ok) if good])
    top = Top(model).eval()
    # LP: the head alone on pooled features of both views (what ml.training's linear mode does).
    with torch.inference_mode():
        feats = torch.cat([top.features(torch.from_numpy(train_maps[i : i + 64].reshape(-1, *train_maps.shape[2:])
                                                          .astype(np.float32))) for i in range(0, len(train_maps), 64)])
    y2 = torch.from_numpy(np.repeat(train_y, 2))
    head = top.classifier
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-4)
    for _epoch in range(30):
        for idx in torch.randperm(len(y2)).split(32):
            loss = nn.functional.cross_entropy(head(feats[idx]), y2[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    results = {"linear probe (LP)": evaluate(top, dev_maps, dev_y)}
    start_state = copy.deepcopy(top.state_dict())
    for lr in (1e-4, 3e-5):
        top.load_state_dict(start_state)
        backbone = [p for n, p in top.named_parameters() if not n.startswith("classifier")]
        opt = torch.optim.AdamW([{"params": backbone, "lr": lr}, {"params": head.parameters(), "lr": lr * 10}],
                                weight_decay=1e-4)
        started = time.monotonic()
        for epoch in range(args.epochs):
            top.train()
            for module in top.modules():  # BatchNorm statistics stay as pretrained
                if isinstance(module, nn.BatchNorm2d):
                    module.eval()
            order = np.random.default_rng(epoch).permutation(len(train_y))
            for i in range(0, len(order), 32):
                idx = order[i : i + 32]
                view = np.random.default_rng(epoch * 1000 + i).integers(0, 2, len(idx))
                x = torch.from_numpy(train_maps[idx, view].astype(np.float32))
                loss = nn.functional.cross_entropy(top(x), torch.from_numpy(train_y[idx]), label_smoothing=0.1)
                opt.zero_grad()
                loss.backward()
                opt.step()
            acc = evaluate(top, dev_maps, dev_y)
            print(f"lr {lr:g} epoch {epoch + 1}: dev accuracy {acc:.4f} ({time.monotonic() - started:.0f} s)")
        results[f"LP-FT stages 5-6, BN frozen, lr {lr:g}, {args.epochs} epochs"] = acc
        tuned = copy.deepcopy(top.state_dict())
        for alpha in (0.5,):
            top.load_state_dict({k: (1 - alpha) * start_state[k].float() + alpha * tuned[k].float()
                                 if start_state[k].is_floating_point() else tuned[k] for k in tuned})
            results[f"WiSE-FT alpha {alpha} of the lr {lr:g} run"] = evaluate(top, dev_maps, dev_y)
    print(f"\n{'recipe (lite2, trained on animals5)':60} dev accuracy ({len(dev_y)} photos)")
    for name, acc in results.items():
        print(f"{name:60} {acc:.4f}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "recipes_finetune.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
