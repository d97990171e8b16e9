"""Recipes scored on cached frozen features (see bench/recipes.py for the protocol)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from bench.recipes import CLASSES, TEST_SOURCES, VIEWS
from ml.openset import (
    BANK_PER_CLASS,
    KNN_K,
    UNKNOWN_RATE,
    auroc,
    fit_temperature,
    softmax_t,
    threshold_for_rate,
    unknown_scores,
)

V = {name: i for i, name in enumerate(VIEWS)}


def fit_head(x: np.ndarray, y: np.ndarray, weight_decay: float, epochs: int = 300, smoothing: float = 0.0):
    """Multinomial logistic regression (full batch, L-BFGS, L2 on weights)."""
    torch.manual_seed(0)
    xt = torch.from_numpy(x.astype(np.float32))
    yt = torch.from_numpy(y.astype(np.int64))
    head = torch.nn.Linear(x.shape[1], len(CLASSES))
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    opt = torch.optim.LBFGS(head.parameters(), lr=1, max_iter=epochs, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(xt), yt, label_smoothing=smoothing)
        loss = loss + weight_decay * head.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    w, b = head.weight.detach().numpy(), head.bias.detach().numpy()
    return lambda f: f.astype(np.float32) @ w.T + b


def fit_head_adam(x: np.ndarray, y: np.ndarray, weight_decay: float = 1e-4, epochs: int = 30, smoothing: float = 0.0):
    """The product's linear probe: AdamW 1e-3, batch 32, cosine schedule (ml.training defaults)."""
    torch.manual_seed(0)
    xt = torch.from_numpy(x.astype(np.float32))
    yt = torch.from_numpy(y.astype(np.int64))
    head = torch.nn.Linear(x.shape[1], len(CLASSES))
    torch.nn.init.normal_(head.weight, std=0.01)
    torch.nn.init.zeros_(head.bias)
    steps = epochs * ((len(y) + 31) // 32)
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    rng = np.random.default_rng(0)
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(len(y)))
        for i in range(0, len(y), 32):
            idx = order[i : i + 32]
            loss = torch.nn.functional.cross_entropy(head(xt[idx]), yt[idx], label_smoothing=smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    w, b = head.weight.detach().numpy(), head.bias.detach().numpy()
    return lambda f: f.astype(np.float32) @ w.T + b


def ece(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    conf, pred = probs.max(1), probs.argmax(1)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += m.mean() * abs((pred[m] == y[m]).mean() - conf[m].mean())
    return float(total)


class Data:
    """Cached features of one or more backbones, with the photo catalogue."""

    def __init__(self, rows, cache: Path, archs: list[str]):
        loaded = [np.load(cache / f"{a}.npz") for a in archs]
        ok = loaded[0]["ok"]
        views = min(d["feats"].shape[1] for d in loaded)
        self.rows = [r for r, good in zip(rows, ok) if good]
        self.feats = np.concatenate([d["feats"][:, :views].astype(np.float32) for d in loaded], axis=2)
        self.logits = np.concatenate([d["logits"][:, :views].astype(np.float32) for d in loaded], axis=2)
        self.label = np.array([CLASSES.index(r["label"]) if r["label"] in CLASSES else -1 for r in self.rows])
        group = np.array([r["group"] for r in self.rows])
        source = np.array([r["source"] for r in self.rows])
        self.a5 = group == "animals5"
        self.test = np.isin(source, TEST_SOURCES)
        self.dev = (group == "more") & ~self.test
        cats = sorted({r["label"] for r in self.rows if r["group"] == "others"})
        pick = set(cats[0::2])  # alternate categories: threshold half vs scoring half
        self.others_a = np.array([r["group"] == "others" and r["label"] in pick for r in self.rows])
        self.others_b = np.array([r["group"] == "others" and r["label"] not in pick for r in self.rows])


def inputs(d: Data, mask: np.ndarray, views: tuple[str, ...], use_logits: bool, l2: bool):
    f = d.feats[mask][:, [V[v] for v in views]]
    if l2:
        f = f / np.linalg.norm(f, axis=2, keepdims=True)
    if use_logits:
        f = np.concatenate([f, d.logits[mask][:, [V[v] for v in views]] / 10.0], axis=2)
    return f


def run_recipe(d: Data, train_mask, recipe: dict):
    train_views = recipe.get("train_views", ("center", "flip"))
    x = inputs(d, train_mask, train_views, recipe.get("logits", False), recipe.get("l2", False))
    n, v, dim = x.shape
    y = np.repeat(d.label[train_mask], v)
    fit = fit_head_adam if recipe.get("adam") else fit_head
    predict_linear = fit(x.reshape(n * v, dim), y, recipe.get("wd", 1e-3), smoothing=recipe.get("ls", 0.0))

    def predict(mask):
        tv = recipe.get("test_views", ("center",))
        f = inputs(d, mask, tv, recipe.get("logits", False), recipe.get("l2", False))
        z = np.stack([predict_linear(f[:, i]) for i in range(f.shape[1])], 1)
        return z.mean(1)

    return predict


RECIPES = {
    "LP centre": {"train_views": ("center",)},
    "LP centre+flip (current linear)": {},
    "LP 8 views": {"train_views": VIEWS},
    "LP centre+flip, AdamW 30 ep (product today)": {"adam": True, "wd": 1e-4},
    "LP 8 views, AdamW 30 ep": {"train_views": VIEWS, "adam": True, "wd": 1e-4},
    "LP 8 views, TTA flip": {"train_views": VIEWS, "test_views": ("center", "flip")},
    "LP 8 views, TTA flip+squash": {"train_views": VIEWS, "test_views": ("center", "flip", "squash")},
    "LP 8 views + ImageNet logits": {"train_views": VIEWS, "logits": True},
    "LP 8 views + logits, TTA flip": {"train_views": VIEWS, "logits": True, "test_views": ("center", "flip")},
    "LP 8 views, l2-norm": {"train_views": VIEWS, "l2": True, "wd": 1e-4},
    "LP 8 views, wd 1e-2": {"train_views": VIEWS, "wd": 1e-2},
    "LP 8 views, wd 1e-4": {"train_views": VIEWS, "wd": 1e-4},
    "LP 8 views, ls 0.1": {"train_views": VIEWS, "ls": 0.1},
}


def score(d: Data, predict, mask) -> dict:
    z = predict(mask)
    y = d.label[mask]
    acc = float((z.argmax(1) == y).mean())
    return {"acc": round(acc, 4), "n": int(mask.sum()), "logits": z}


def openset_table(d: Data, predict, id_mask, val_mask, ood_masks, d_train_mask, recipe) -> dict:
    """AUROC and flagged rates for each open-set score, threshold at 3% of held-out known photos."""
    zval = predict(val_mask)
    t = fit_temperature(zval, d.label[val_mask])
    out = {"temperature": t}
    bank = inputs(d, d_train_mask, ("center",), False, True)[:, 0]
    for method in ("msp", "energy", "knn"):
        params = {"method": method, "temperature": t, "bank": bank, "k": 10}

        def s(mask, params=params):
            f = inputs(d, mask, ("center",), False, False)[:, 0]
            return unknown_scores(predict(mask), f, params)

        known = s(id_mask)
        thr = threshold_for_rate(s(val_mask), 0.03)
        row = {"threshold": round(thr, 4), "known_flagged": round(float((known > thr).mean()), 4)}
        for name, m in ood_masks.items():
            u = s(m)
            row[f"{name}_auroc"] = round(auroc(known, u), 4)
            row[f"{name}_flagged"] = round(float((u > thr).mean()), 4)
        out[method] = row
    return out


def compare(rows, cache: Path) -> None:
    results = {}
    for archs in (["efficientnet_lite0"], ["efficientnet_lite1"], ["efficientnet_lite2"], ["efficientnet_lite0", "efficientnet_lite2"]):
        if not all((cache / f"{a}.npz").exists() for a in archs):
            continue
        d = Data(rows, cache, archs)
        key = "+".join(a.replace("efficientnet_", "") for a in archs)
        print(f"\n## {key}: selection = train animals5, score dev sources ({d.dev.sum()} photos)")
        print(f"{'recipe':42} {'dev acc':>8} {'dev ECE':>8}")
        for name, recipe in RECIPES.items():
            if any(V[v] >= d.feats.shape[1] for v in recipe.get("train_views", ()) + recipe.get("test_views", ())):
                continue
            predict = run_recipe(d, d.a5, recipe)
            r = score(d, predict, d.dev)
            probs = softmax_t(r["logits"])
            results[f"{key} | {name}"] = {"dev_acc": r["acc"], "dev_ece": round(ece(probs, d.label[d.dev]), 4)}
            print(f"{name:42} {r['acc']:8.4f} {results[f'{key} | {name}']['dev_ece']:8.4f}")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "recipes.json").write_text(json.dumps(results, indent=1))


def openset(rows, cache: Path, archs: list[str], recipe: dict, rate: float = 0.03) -> dict:
    """Open-set scores on the selection protocol: threshold from an in-source validation part."""
    d = Data(rows, cache, archs)
    rng = np.random.default_rng(0)
    a5 = np.flatnonzero(d.a5)
    val_idx = rng.choice(a5, size=len(a5) * 15 // 100, replace=False)
    val = np.zeros(len(d.rows), bool)
    val[val_idx] = True
    train = d.a5 & ~val
    predict = run_recipe(d, train, recipe)
    zval = predict(val)
    t = fit_temperature(zval, d.label[val])
    bank = inputs(d, train, ("center",), False, True)[:, 0]
    out = {"temperature": t}
    print(f"\n## open set, {'+'.join(archs)}, T={t}: threshold at {rate:.0%} of in-source validation photos")
    print(f"{'method':8} {'AUROC dev/oth_a':>16} {'dev flagged':>12} {'others_a flagged':>17} {'others_b flagged':>17}")
    for method in ("msp", "energy", "knn"):
        for k in ((1, 5, 20) if method == "knn" else (0,)):
            params = {"method": method, "temperature": t, "bank": bank, "k": k}

            def s(mask, params=params):
                f = inputs(d, mask, ("center",), False, False)[:, 0]
                return unknown_scores(predict(mask), f, params)

            thr = threshold_for_rate(s(val), rate)
            dev, oa, ob = s(d.dev), s(d.others_a), s(d.others_b)
            name = f"{method}{k if k else ''}"
            out[name] = {"auroc": auroc(dev, oa), "dev": float((dev > thr).mean()), "others_a": float((oa > thr).mean()),
                         "others_b": float((ob > thr).mean())}
            r = out[name]
            print(f"{name:8} {r['auroc']:16.4f} {r['dev']:12.3f} {r['others_a']:17.3f} {r['others_b']:17.3f}")
    return out


def _val_split(d: Data, pool: np.ndarray, fraction: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    idx = np.flatnonzero(pool)
    val = np.zeros(len(d.rows), bool)
    val[rng.choice(idx, size=max(1, round(len(idx) * fraction)), replace=False)] = True
    return pool & ~val, val


def final_protocol(rows, cache: Path, archs: list[str], recipe: dict, k: int = KNN_K, per_class: int = BANK_PER_CLASS,
                   rate: float = UNKNOWN_RATE) -> dict:
    """The chosen recipe trained on animals5 + dev sources, scored once on the test sources and others_b.

    Leave-one-class-out too: trained without one class, its test-source photos should come out unknown.
    """
    from ml.openset import decode_bank, fit_open_set

    d = Data(rows, cache, archs)
    pool = d.a5 | d.dev
    train, val = _val_split(d, pool)

    def fitted(train_mask, val_mask, classes):
        remap = {c: i for i, c in enumerate(classes)}
        sub_train = train_mask & np.isin(d.label, classes)
        sub_val = val_mask & np.isin(d.label, classes)
        lab = d.label.copy()
        d.label = np.array([remap.get(v, -1) for v in lab])
        try:
            predict = run_recipe(d, sub_train, recipe)
            zval = predict(sub_val)
            t = fit_temperature(zval, d.label[sub_val])
            centre = lambda m: inputs(d, m, ("center",), False, False)[:, 0]  # noqa: E731
            params = fit_open_set(centre(sub_train), d.label[sub_train], centre(sub_val), zval,
                                  k=k, per_class=per_class, rate=rate)
        finally:
            d.label = lab
        params["bank"] = decode_bank(params["bank"])
        return predict, t, params, centre

    predict, t, params, centre = fitted(train, val, list(range(len(CLASSES))))

    def unknown(mask):
        return unknown_scores(predict(mask), centre(mask), params) > params["threshold"]

    z = predict(d.test)
    probs = softmax_t(z, t)
    out = {"archs": archs, "recipe": {k2: list(v) if isinstance(v, tuple) else v for k2, v in recipe.items()},
           "k": k, "per_class": per_class, "rate": rate, "temperature": t, "threshold": params["threshold"],
           "test_count": int(d.test.sum()), "test_accuracy": float((z.argmax(1) == d.label[d.test]).mean()),
           "test_ece": ece(probs, d.label[d.test]), "test_ece_uncalibrated": ece(softmax_t(z), d.label[d.test]),
           "test_flagged_unknown": float(unknown(d.test).mean()),
           "others_b_flagged": float(unknown(d.others_b).mean()), "others_all_flagged": float(unknown(d.others_a | d.others_b).mean())}
    zin = predict(val)
    out["val_accuracy_in_source"] = float((zin.argmax(1) == d.label[val]).mean())
    accuracy_by_class = {}
    for c, name in enumerate(CLASSES):
        m = d.test & (d.label == c)
        accuracy_by_class[name] = float((z[d.label[d.test] == c].argmax(1) == c).mean()) if m.any() else None
    out["test_per_class"] = accuracy_by_class
    loco = {}
    for c, name in enumerate(CLASSES):
        keep = [i for i in range(len(CLASSES)) if i != c]
        p2, _, params2, _ = fitted(train, val, keep)
        held = d.test & (d.label == c)
        known = d.test & (d.label != c)
        s_held = unknown_scores(p2(held), centre(held), params2) > params2["threshold"]
        s_known = unknown_scores(p2(known), centre(known), params2) > params2["threshold"]
        loco[name] = {"held_out_flagged": float(s_held.mean()), "known_flagged": float(s_known.mean())}
    out["leave_one_class_out"] = loco
    print(json.dumps(out, indent=1))
    return out
