"""Which "none of my classes" score catches photos of other things? Scores compared on cached features.

    python bench/openset_compare.py features [--model models/default/animals5.pt] [--dataset DIR]
    python bench/openset_compare.py compare            # prints the table, writes bench/results/openset_compare.json

`features` runs every photo once through the shipped model's ONNX pair (its logits and its
fine-tuned pooled features) and through the *pretrained* EfficientNet-Lite2 it started from (pooled
outputs of stages 3-5, the pooled 1280-number features, the ImageNet logits), with the prediction
preprocessing, and caches them under --cache (default /tmp/feat10e; never in the repository).

`--dataset` is the shipped model's own training folder as `make default-model` builds it (same
split, seed 0: the fingerprint is checked), so "train" and "val" are exactly the model's parts:

    cp -r ../shared/datasets/animals5 /tmp/feat10e/animals5plus
    flask dataset add-from ../shared/datasets/animals5_more /tmp/feat10e/animals5plus \
        --exclude-sources LTSACH/AILearningHub,jupyex/Cow-Sheep-Classification-using-DenseNet121,Chiirali/horse-category-classification --prefix more
    flask dataset split /tmp/feat10e/animals5plus --test 0.2 --val 0.1 --seed 0

Protocol (data kept apart): every threshold and every choice (method, k, margin) uses only the
known *validation* photos (training sources) and the "threshold" half of `others/` (files split
by a hash of their path); the table's figures are on the other half of `others/` ("scored") and
on the out-of-source known photos (the test sources, never trained on).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import machine, write_result  # noqa: E402

SHARED = ROOT.parent / "shared" / "datasets"
TEST_SOURCES = ("LTSACH/AILearningHub", "jupyex/Cow-Sheep-Classification-using-DenseNet121",
                "Chiirali/horse-category-classification")
RESULT = ROOT / "bench" / "results" / "openset_compare.json"


def others_half(rel: str) -> str:
    """'threshold' or 'scored', from a hash of the file's path under others/ (deterministic, ~half each)."""
    return "threshold" if hashlib.sha1(rel.encode("utf-8")).digest()[0] % 2 == 0 else "scored"


def catalogue(dataset: Path) -> list[dict]:
    """Every photo: path, role (train / val / test_in / oos / others_threshold / others_scored), label."""
    rows = []
    for part in ("train", "val", "test"):
        for line in (dataset / f"{part}.txt").read_text(encoding="utf-8").splitlines():
            rel, label = line.split("\t")
            rows.append({"path": str(dataset / rel), "role": "test_in" if part == "test" else part, "label": int(label)})
    classes = json.loads((dataset / "classes.json").read_text(encoding="utf-8"))
    names = classes if isinstance(classes, list) else classes.get("classes", classes)
    with open(SHARED / "animals5_more" / "SOURCES.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if r["source_repo"] in TEST_SOURCES:
                rows.append({"path": str(SHARED / "animals5_more" / r["staged_path"]), "role": "oos",
                             "label": list(names).index(r["class"]), "source": r["source_repo"]})
    others = SHARED / "others"
    for d in sorted(p for p in others.iterdir() if p.is_dir()):
        for p in sorted(d.iterdir()):
            rel = p.relative_to(others).as_posix()
            rows.append({"path": str(p), "role": f"others_{others_half(rel)}", "label": -1, "kind": d.name})
    return rows


def _pretrained_session(size: int):
    """Pretrained Lite2 as one ONNX graph: pooled stage 3/4/5 outputs, pooled features, ImageNet logits."""
    import io
    import warnings

    import onnxruntime as ort
    import timm
    import torch

    from ml.models import LITE_STAGE_DEPTHS, _read_state_dict, lite_package_weights, map_lite_keys

    model = timm.create_model("tf_efficientnet_lite2", pretrained=False)
    model.load_state_dict(map_lite_keys(_read_state_dict(lite_package_weights(2)), LITE_STAGE_DEPTHS[2]))

    class Taps(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            m = self.m
            x = m.bn1(m.conv_stem(x))
            pooled = []
            for i, block in enumerate(m.blocks):
                x = block(x)
                if i in (3, 4, 5):
                    pooled.append(x.mean((2, 3)))
            f = m.bn2(m.conv_head(x)).mean((2, 3))
            return (*pooled, f, m.classifier(f))

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Taps(model).eval(), torch.zeros(1, 3, size, size), buf, input_names=["x"], dynamo=False,
                          output_names=["s3", "s4", "s5", "feat", "inet"], dynamic_axes={"x": {0: "n"}})
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(buf.getvalue(), options, providers=["CPUExecutionProvider"])


def extract(model_path: Path, dataset: Path, cache: Path) -> None:
    from tqdm import tqdm

    from ml.images import ImageError, load_image
    from ml.predict import Predictor

    fingerprint = json.loads((dataset / "dataset.json").read_text(encoding="utf-8")).get("fingerprint")
    import torch

    meta = torch.load(model_path, weights_only=True)["meta"]
    want = meta["dataset"].get("fingerprint")
    if want and fingerprint and want != fingerprint:
        sys.exit(f"{dataset} (fingerprint {fingerprint}) is not the split {model_path.name} was trained on ({want}).")
    rows = catalogue(dataset)
    shipped = Predictor.load(model_path, backend="onnx", threads=1)
    pre = _pretrained_session(shipped.size)
    out: dict[str, list] = {k: [] for k in ("logits", "ft", "s3", "s4", "s5", "feat", "inet")}
    ok = []
    for row in tqdm(rows, unit="photo"):
        try:
            img = load_image(row["path"], target=shipped.size)
        except ImageError:
            ok.append(False)
            continue
        ok.append(True)
        x = shipped.preprocess([img])
        logits, ft = shipped.forward([img])
        s3, s4, s5, feat, inet = pre.run(None, {"x": x})
        for key, value in zip(out, (logits, ft, s3, s4, s5, feat, inet)):
            out[key].append(np.asarray(value[0], dtype=np.float32))
    cache.mkdir(parents=True, exist_ok=True)
    kept = [r for r, good in zip(rows, ok) if good]
    (cache / "catalogue.json").write_text(json.dumps(kept, ensure_ascii=False), encoding="utf-8")
    np.savez(cache / "openset_features.npz", **{k: np.stack(v) for k, v in out.items()})
    print(f"{len(kept)} photos ({len(rows) - len(kept)} unreadable) cached in {cache}")


# -- scores ----------------------------------------------------------------------------------------


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def knn_score(bank: np.ndarray, x: np.ndarray, k: int, centre: np.ndarray | None = None) -> np.ndarray:
    """1 − cosine similarity to the k-th nearest bank vector (optionally after removing a mean)."""
    if centre is not None:
        bank, x = bank - centre, x - centre
    sims = _unit(x) @ _unit(bank).T
    return 1.0 - -np.partition(-sims, k - 1, axis=1)[:, k - 1]


def mahalanobis_score(train: np.ndarray, labels: np.ndarray, x: np.ndarray, shrink: float) -> np.ndarray:
    """Smallest Mahalanobis distance to a class mean, shared covariance shrunk towards its diagonal mean."""
    means = np.stack([train[labels == c].mean(0) for c in np.unique(labels)])
    centred = train - means[labels]
    cov = centred.T @ centred / len(train)
    cov = (1 - shrink) * cov + shrink * np.trace(cov) / len(cov) * np.eye(len(cov))
    prec = np.linalg.inv(cov)
    d = np.stack([np.einsum("ij,jk,ik->i", x - m, prec, x - m) for m in means], axis=1)
    return d.min(1)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def compare(cache: Path, model_path: Path, rate: float) -> dict:
    import torch

    from ml.openset import SHIFT_MARGIN, auroc, fit_open_set, threshold_for_rate, unknown_scores

    rows = json.loads((cache / "catalogue.json").read_text(encoding="utf-8"))
    data = {k: v.astype(np.float64) for k, v in np.load(cache / "openset_features.npz").items()}
    role = np.array([r["role"] for r in rows])
    label = np.array([r["label"] for r in rows])
    tr, va, oos, te = role == "train", role == "val", role == "oos", role == "test_in"
    oth_t, oth_s = role == "others_threshold", role == "others_scored"
    meta = torch.load(model_path, weights_only=True)["meta"]
    temperature = float(meta["calibration"]["temperature"])
    shipped = meta["open_set"]

    scores: dict[str, np.ndarray] = {}
    notes: dict[str, str] = {}
    # The shipped check, exactly: its stored bank (and centre), k, threshold; listed for reference.
    centred = ", mean-centred" if shipped.get("centred") else ""
    scores[f"shipped: kNN fine-tuned features{centred}, margin {shipped.get('margin')} (stored threshold)"] = unknown_scores(
        data["logits"], data["ft"], shipped)
    z = data["logits"] / temperature
    scores["fine-tuned max softmax (MSP)"] = -softmax(z).max(1)
    m = z.max(1, keepdims=True)
    scores["fine-tuned energy"] = -(m[:, 0] + np.log(np.exp(z - m).sum(1)))
    for k in (1, 5, 10):
        scores[f"kNN fine-tuned features, k={k}, all train"] = knn_score(data["ft"][tr], data["ft"], k)
    for name, key in (("frozen pooled features", "feat"), ("frozen stage 5 (pooled)", "s5"),
                      ("frozen stage 4 (pooled, = frozen part's output)", "s4"), ("frozen stage 3 (pooled)", "s3")):
        for k in (1, 5, 10):
            scores[f"kNN {name}, k={k}"] = knn_score(data[key][tr], data[key], k)
    scores["kNN frozen pooled features, k=5, mean-centred"] = knn_score(data["feat"][tr], data["feat"], 5, data["feat"][tr].mean(0))
    for shrink in (0.1, 0.5):
        scores[f"Mahalanobis frozen pooled features, shrinkage {shrink}"] = mahalanobis_score(
            data["feat"][tr], label[tr], data["feat"], shrink)
    scores["Mahalanobis fine-tuned features, shrinkage 0.1"] = mahalanobis_score(data["ft"][tr], label[tr], data["ft"], 0.1)
    # Class-agnostic ImageNet-head scores (no hard-coded synsets: everything comes from the training photos).
    p = softmax(data["inet"])
    seen = np.unique(p[tr].argmax(1))
    scores[f"ImageNet head: mass outside the {len(seen)} classes that are top-1 for a training photo"] = 1 - p[:, seen].sum(1)
    scores["kNN on ImageNet probability vectors, k=5"] = knn_score(np.sqrt(p[tr]), np.sqrt(p), 5)
    notes["ImageNet"] = f"{len(seen)} ImageNet classes are top-1 for some training photo"

    def flagged(s: np.ndarray, thr: float, mask: np.ndarray) -> float:
        return float((s[mask] > thr).mean())

    table = []
    thresholds: dict[str, float] = {}
    for name, s in scores.items():
        thr = float(shipped["threshold"]) if name.startswith("shipped") else threshold_for_rate(s[va], rate)
        thresholds[name] = thr
        table.append({"score": name, "val": flagged(s, thr, va), "others_threshold": flagged(s, thr, oth_t),
                      "others_scored": flagged(s, thr, oth_s), "oos": flagged(s, thr, oos), "test_in": flagged(s, thr, te),
                      "auroc_val_vs_others_threshold": auroc(s[va], s[oth_t])})

    # Validation photos share the training photos' sources: their neighbours are closer than a user's
    # photo finds. The shipped rule simulated that with a margin (score validation by the (k+margin)-th
    # neighbour); here the same on the frozen features, and a leave-out bank (val scored against train,
    # but train's own nearest duplicates removed by excluding the nearest `skip` neighbours).
    for key, title in (("feat", "frozen pooled features"), ("s5", "frozen stage 5 (pooled)")):
        for k, margin in ((5, 5), (5, 10), (1, 5)):
            s = knn_score(data[key][tr], data[key], k)
            harsh = knn_score(data[key][tr], data[key][va], k + margin)
            thr = threshold_for_rate(harsh, rate)
            name = f"kNN {title}, k={k}, threshold from val by the {k + margin}th neighbour"
            scores[name], thresholds[name] = s, thr
            table.append({"score": name, "val": flagged(s, thr, va), "others_threshold": flagged(s, thr, oth_t),
                          "others_scored": flagged(s, thr, oth_s), "oos": flagged(s, thr, oos), "test_in": flagged(s, thr, te),
                          "auroc_val_vs_others_threshold": auroc(s[va], s[oth_t])})

    # Mean-centred kNN with the margin rule, on fine-tuned and on frozen features (bank of 120 per class
    # as ml.training stores). Margins 0/3/5/10: the criterion (it uses only the
    # threshold data) is the largest margin whose threshold-half catch stays >= 90%.
    for key, title in (("ft", "fine-tuned"), ("feat", "frozen pooled")):
        for margin in (0, 3, 5, 10):
            fitted = fit_open_set(data[key][tr], label[tr], data[key][va], data["logits"][va], margin=margin, rate=rate)
            s = unknown_scores(data["logits"], data[key], fitted)
            thr = float(fitted["threshold"])
            name = f"kNN {title} features, mean-centred, k=5, 120/class, margin {margin}"
            if key == "ft" and margin == SHIFT_MARGIN:
                name += " (ml.openset.fit_open_set now)"
            scores[name], thresholds[name] = s, thr
            table.append({"score": name, "val": flagged(s, thr, va), "others_threshold": flagged(s, thr, oth_t),
                          "others_scored": flagged(s, thr, oth_s), "oos": flagged(s, thr, oos), "test_in": flagged(s, thr, te),
                          "auroc_val_vs_others_threshold": auroc(s[va], s[oth_t])})

    # "Unknown if either says so", each threshold at half the known-rate budget.
    def either(a: str, b: str, title: str) -> None:
        sa, sb = scores[a], scores[b]
        ta, tb = threshold_for_rate(sa[va], rate / 2), threshold_for_rate(sb[va], rate / 2)
        flags = (sa > ta) | (sb > tb)
        table.append({"score": title, "val": float(flags[va].mean()), "others_threshold": float(flags[oth_t].mean()),
                      "others_scored": float(flags[oth_s].mean()), "oos": float(flags[oos].mean()), "test_in": float(flags[te].mean()),
                      "auroc_val_vs_others_threshold": float("nan")})

    either("kNN frozen pooled features, k=5", "fine-tuned max softmax (MSP)", "either: kNN frozen k=5 or MSP (half budget each)")
    either("kNN frozen pooled features, k=5", "kNN fine-tuned features, k=5, all train",
           "either: kNN frozen k=5 or kNN fine-tuned k=5 (half budget each)")
    either("kNN frozen stage 5 (pooled), k=5", "fine-tuned max softmax (MSP)", "either: kNN frozen stage 5 k=5 or MSP (half budget each)")

    print(f"\nthreshold at {rate:.0%} of the {va.sum()} validation photos (training sources); "
          f"others/: {oth_t.sum()} threshold-half, {oth_s.sum()} scored-half; {oos.sum()} out-of-source known photos\n")
    print(f"{'score':92} {'val':>6} {'oth thr':>8} {'OTH SCORED':>10} {'OOS known':>9} {'in-src test':>11} {'AUROC':>6}")
    for r in table:
        print(f"{r['score'][:92]:92} {r['val']:6.1%} {r['others_threshold']:8.1%} {r['others_scored']:10.1%} "
              f"{r['oos']:9.1%} {r['test_in']:11.1%} {r['auroc_val_vs_others_threshold']:6.3f}")
    return {"rate": rate, "counts": {"train": int(tr.sum()), "val": int(va.sum()), "oos": int(oos.sum()), "test_in": int(te.sum()),
                                     "others_threshold": int(oth_t.sum()), "others_scored": int(oth_s.sum())},
            "table": table, "notes": notes, "machine": machine()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["features", "compare"])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default" / "animals5.pt")
    parser.add_argument("--dataset", type=Path, default=Path("/tmp/feat10e/animals5plus"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/feat10e"))
    parser.add_argument("--rate", type=float, default=0.03, help="share of validation photos allowed to be flagged")
    args = parser.parse_args()
    if args.step == "features":
        start = time.monotonic()
        extract(args.model, args.dataset, args.cache)
        print(f"{time.monotonic() - start:.0f} s")
    else:
        write_result(RESULT, compare(args.cache, args.model, args.rate))


if __name__ == "__main__":
    main()
