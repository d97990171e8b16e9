"""Leave one training source out: does WiSE-FT, or more crops, help the last-stages recipe on a new source?

    python bench/recipes_loso.py [--views 2|4] [--epochs 4] [--cache /tmp/recipes-loso]

Selection data only: the training pool of the shipped model (animals5 and the five animals5_more
sources that are not `TEST_SOURCES`); the test sources are never read. For each of the five
animals5_more sources in turn, EfficientNet-Lite2's last stages are trained on every other photo of
the pool (head probed on frozen features for 20 epochs first, then 4 epochs of stages 5-6 and the
head: BatchNorm frozen, AdamW 1e-4 / 1e-3, cosine, label smoothing 0.1: what `--mode last_stages`
runs) and scored on the photos of the source left out. The frozen stages' maps are computed once
(onnxruntime) and cached. `--views 2` trains on the centre square and its mirror (the product's
cache); `--views 4` adds two random resized crops of the centre square (scale 0.35-1, a coin-flip
mirror). Every run is also scored after WiSE-FT averaging with its start (alpha 0 = the probe,
1 = the tuned weights). Prints per-source and pooled accuracy; writes bench/results/recipes_loso_v<views>.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.recipes import CLASSES, TEST_SOURCES, catalogue  # noqa: E402
from bench.recipes_finetune import Top, _model, cache_maps, evaluate, frozen_session  # noqa: E402

ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)


def crop_maps(model, rows) -> np.ndarray:
    """Frozen-stage maps of two random resized crops of each photo's centre square."""
    from tqdm import tqdm

    from ml.images import center_square, load_image
    from ml.transforms import normalise, random_resized_crop

    session = frozen_session(model)
    rng, out = np.random.default_rng(1), []
    for row in tqdm(rows, desc="random crops", unit="photo", mininterval=10):
        square = np.asarray(center_square(load_image(row["path"], target=260), 260))
        x = normalise(np.stack([random_resized_crop(square, rng), random_resized_crop(square, rng)]),
                      (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
        out.append(session.run(None, {"x": x})[0].astype(np.float16))
    return np.stack(out)


def cached(path: Path, compute, *keys: str) -> tuple[np.ndarray, ...]:
    """The arrays `keys` saved at `path`, computed by `compute()` (a tuple in that order) and saved on first use."""
    if path.exists():
        z = np.load(path)
        return tuple(z[k] for k in keys)
    arrays = compute()
    np.savez(path, **dict(zip(keys, arrays)))
    return arrays


def pool_maps(model, rows, cache: Path, *, crops: bool) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """(readable rows, centre+mirror maps, the maps training draws from: those, plus 2 crops when `crops`)."""
    maps, ok = cached(cache / "maps.npz", lambda: cache_maps(model, rows, 2), "maps", "ok")
    rows = [r for r, good in zip(rows, ok) if good]
    if not crops:
        return rows, maps, maps
    (extra,) = cached(cache / "crops.npz", lambda: (crop_maps(model, rows),), "maps")
    return rows, maps, np.concatenate([maps, extra], axis=1)


def one_fold(model, base, maps, views_maps, y, train_idx, epochs: int) -> dict[float, Top]:
    """Probe, then tune the last stages on `train_idx`; the WiSE-FT averages' states by alpha."""
    top = Top(model)
    top.load_state_dict(base)
    top.eval()
    with torch.inference_mode():
        feats = torch.cat([top.features(torch.from_numpy(maps[train_idx[i : i + 64]].reshape(-1, *maps.shape[2:])
                                                          .astype(np.float32))) for i in range(0, len(train_idx), 64)])
    y2, head = torch.from_numpy(np.repeat(y[train_idx], 2)), top.classifier
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-4)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        for idx in torch.randperm(len(y2), generator=g).split(32):
            loss = nn.functional.cross_entropy(head(feats[idx]), y2[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    start = copy.deepcopy(top.state_dict())
    stages = [p for n, p in top.named_parameters() if not n.startswith("classifier")]
    opt = torch.optim.AdamW([{"params": stages, "lr": 1e-4}, {"params": head.parameters(), "lr": 1e-3}], weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * ((len(train_idx) + 31) // 32))
    y_train, n_views = y[train_idx], views_maps.shape[1]
    for epoch in range(epochs):
        top.train()
        for module in top.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()
        order = np.random.default_rng(epoch).permutation(len(train_idx))
        for i in range(0, len(order), 32):
            idx = order[i : i + 32]
            view = np.random.default_rng(epoch * 1000 + i).integers(0, n_views, len(idx))
            x = torch.from_numpy(views_maps[train_idx[idx], view].astype(np.float32))
            loss = nn.functional.cross_entropy(top(x), torch.from_numpy(y_train[idx]), label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    tuned = copy.deepcopy(top.state_dict())
    return {a: {k: (1 - a) * start[k].float() + a * tuned[k].float() if start[k].is_floating_point() else tuned[k]
                for k in tuned} for a in ALPHAS}, top


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, choices=(2, 4), default=2)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/recipes-loso"))
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    args.cache.mkdir(parents=True, exist_ok=True)
    rows = [r for r in catalogue() if r["group"] in ("animals5", "more") and r["source"] not in TEST_SOURCES]
    model = _model()
    rows, maps, views_maps = pool_maps(model, rows, args.cache, crops=args.views == 4)
    y = np.array([CLASSES.index(r["label"]) for r in rows])
    source = np.array([r["source"] for r in rows])
    base = copy.deepcopy(Top(model).state_dict())
    results = {}
    for held in sorted(set(source) - {"animals5"}):
        train_idx, test_idx = np.where(source != held)[0], np.where(source == held)[0]
        started = time.monotonic()
        states, top = one_fold(model, base, maps, views_maps, y, train_idx, args.epochs)
        scores = {}
        for alpha, state in states.items():
            top.load_state_dict(state)
            scores[alpha] = round(evaluate(top, maps[test_idx], y[test_idx]), 4)
        results[held] = {"n": int(len(test_idx)), **{str(a): s for a, s in scores.items()}}
        print(held, len(test_idx), scores, f"{time.monotonic() - started:.0f} s", flush=True)
    total = sum(r["n"] for r in results.values())
    pooled = {str(a): round(sum(r[str(a)] * r["n"] for r in results.values()) / total, 4) for a in ALPHAS}
    print(f"\nviews {args.views}, {args.epochs} epochs; pooled over {total} photos of the left-out sources:")
    print("| WiSE-FT alpha | " + " | ".join(pooled) + " |")
    print("| accuracy | " + " | ".join(f"{100 * v:.2f}%" for v in pooled.values()) + " |")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"recipes_loso_v{args.views}.json").write_text(json.dumps({"folds": results, "pooled": pooled}, indent=1))


if __name__ == "__main__":
    main()
