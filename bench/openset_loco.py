"""Leave one class out with the product's recipe: are photos of a class the model never saw called unknown?

    python bench/openset_loco.py [--cache /tmp/recipes-loso] [--epochs 4]

For each of the five classes in turn, EfficientNet-Lite2's last stages are trained on the other
four classes' photos of the training pool (animals5 and the five animals5_more training sources;
90% train, 10% validation, stratified, seed 0) exactly as `bench/recipes_loso.py --views 4` does
(the recipe `--mode last_stages` runs: centre, mirror and two random crops cached per picture).
The "none of my classes" check is then fitted as training fits it (`ml.openset.fit_open_set`:
mean-centred kNN on the tuned model's own features, k 5, 120 per class, threshold at 3% of the
validation photos with the 3-neighbour margin) and applied to the photos of the test sources
(scored only, never trained on or used to choose): the share of the left-out class flagged (higher
is better) against the share of the four known classes flagged (lower is better). Also the left-out
class's photos in the training pool (its in-source photos). Writes bench/results/openset_loco.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.recipes import CLASSES, TEST_SOURCES, catalogue  # noqa: E402
from bench.recipes_finetune import Top, _model, cache_maps  # noqa: E402
from bench.recipes_loso import cached, one_fold, pool_maps  # noqa: E402


def pooled(top: Top, maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(features, logits) of the centre views."""
    top.eval()
    feats, logits = [], []
    with torch.inference_mode():
        for i in range(0, len(maps), 64):
            f = top.features(torch.from_numpy(maps[i : i + 64, 0].astype(np.float32)))
            feats.append(f.numpy())
            logits.append(top.classifier(f).numpy())
    return np.concatenate(feats), np.concatenate(logits)


def main() -> None:
    from ml.openset import fit_open_set, unknown_scores

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/recipes-loso"))
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    args.cache.mkdir(parents=True, exist_ok=True)
    everything = catalogue()
    rows = [r for r in everything if r["group"] in ("animals5", "more") and r["source"] not in TEST_SOURCES]
    test_rows = [r for r in everything if r["group"] == "more" and r["source"] in TEST_SOURCES]
    model = _model()
    rows, maps, views_maps = pool_maps(model, rows, args.cache, crops=True)
    test_maps, test_ok = cached(args.cache / "test_maps.npz", lambda: cache_maps(model, test_rows, 1), "maps", "ok")
    test_rows = [r for r, good in zip(test_rows, test_ok) if good]
    y = np.array([CLASSES.index(r["label"]) for r in rows])
    test_y = np.array([CLASSES.index(r["label"]) for r in test_rows])
    results = {}
    for left in range(len(CLASSES)):
        known = [c for c in range(len(CLASSES)) if c != left]
        remap = {c: i for i, c in enumerate(known)}
        rng = np.random.default_rng(0)
        train_idx, val_idx = [], []
        for c in known:
            idx = rng.permutation(np.where(y == c)[0])
            cut = max(1, round(0.1 * len(idx)))
            val_idx += list(idx[:cut])
            train_idx += list(idx[cut:])
        train_idx, val_idx = np.array(sorted(train_idx)), np.array(sorted(val_idx))
        y4 = np.array([remap.get(c, -1) for c in y])
        four = copy.deepcopy(model)
        four.classifier = nn.Linear(four.classifier.in_features, len(known))
        torch.manual_seed(0)
        nn.init.normal_(four.classifier.weight, std=0.01)
        nn.init.zeros_(four.classifier.bias)
        base = copy.deepcopy(Top(four).state_dict())
        states, top = one_fold(four, base, maps, views_maps, y4, train_idx, args.epochs)
        top.load_state_dict(states[1.0])
        train_f, _ = pooled(top, maps[train_idx])
        val_f, val_z = pooled(top, maps[val_idx])
        check = fit_open_set(train_f, y4[train_idx], val_f, val_z)
        test_f, test_z = pooled(top, test_maps)
        flagged = unknown_scores(test_z, test_f, check) > check["threshold"]
        pool_left = np.where(y == left)[0]
        left_f, left_z = pooled(top, maps[pool_left])
        pool_flagged = unknown_scores(left_z, left_f, check) > check["threshold"]
        known_test = np.isin(test_y, known)
        accuracy = float((np.array([known[i] for i in test_z.argmax(1)])[known_test] == test_y[known_test]).mean())
        results[CLASSES[left]] = {
            "left_out_flagged_out_of_source": round(float(flagged[test_y == left].mean()), 4),
            "left_out_photos_out_of_source": int((test_y == left).sum()),
            "known_flagged_out_of_source": round(float(flagged[known_test].mean()), 4),
            "known_accuracy_out_of_source": round(accuracy, 4),
            "left_out_flagged_in_source": round(float(pool_flagged.mean()), 4),
            "left_out_photos_in_source": int(len(pool_left)),
        }
        print(CLASSES[left], results[CLASSES[left]], flush=True)
    print("\n| class left out | its out-of-source photos flagged | the four known classes' out-of-source photos flagged "
          "| its training-source photos flagged | known classes' out-of-source accuracy |")
    print("| --- | --- | --- | --- | --- |")
    for name, r in results.items():
        print(f"| {name} | {100 * r['left_out_flagged_out_of_source']:.0f}% ({r['left_out_photos_out_of_source']}) "
              f"| {100 * r['known_flagged_out_of_source']:.1f}% | {100 * r['left_out_flagged_in_source']:.0f}% "
              f"({r['left_out_photos_in_source']}) | {100 * r['known_accuracy_out_of_source']:.1f}% |")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "openset_loco.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
