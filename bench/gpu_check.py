"""Check of the GPU path: the same short trainings on the CPU and on CUDA, accuracy and time side by side.

    .venv/bin/python bench/gpu_check.py                          # generated pictures (5 classes)
    .venv/bin/python bench/gpu_check.py --dataset ../shared/datasets/animals5 --per-class 60

For every device (cpu, cuda in mixed precision, cuda in float32; a device this machine lacks is
skipped with a line saying why) it runs, on the same split and seed: `ml.training` linear probe
(`--linear-epochs`), `ml.training` fine-tuning for `--finetune-epochs` (1), and `ml.evaluate` of the
fine-tuned model on the test part (torch backend). Times include decoding/caching the pictures,
which stays on the CPU. Prints a table (seconds, speed-up against the CPU in the same run, test
accuracy and its difference from the CPU's); writes bench/results/gpu_check.json.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.common import machine, write_result  # noqa: E402
from ml.dataset import list_class_files, list_classes, split  # noqa: E402
from ml.device import pick_device  # noqa: E402
from ml.errors import MLError  # noqa: E402
from ml.evaluate import evaluate  # noqa: E402
from ml.training import TrainConfig, train  # noqa: E402
from webapp.cli.console import table  # noqa: E402

#: Device runs: name in the table -> (device asked for, mixed precision).
RUNS = {"cpu": ("cpu", False), "cuda": ("cuda", True), "cuda-fp32": ("cuda", False)}


def make_data(root: Path, source: Path | None, per_class: int, seed: int) -> Path:
    """A small split dataset: `per_class` pictures per class copied from `source`, or generated ones."""
    if source is None:
        from tests.imagegen import make_dataset

        make_dataset(root, {f"class{i}": per_class for i in range(5)}, size=(160, 120), coloured=True, seed=seed)
    else:
        for cls in list_classes(source):
            for rel in list_class_files(source, cls)[:per_class]:
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source / rel, root / rel)
    split(root, test=0.25, seed=seed)
    return root


def run_device(name: str, root: Path, out: Path, args) -> list[dict]:
    """Linear probe, one fine-tuning epoch and an evaluation on one device; [] rows when it is missing."""
    device, amp = RUNS[name]
    trainings = {f"{mode} ({epochs} ep)": (mode, epochs)
                 for mode, epochs in (("linear", args.linear_epochs), ("finetune", args.finetune_epochs))}
    try:
        chosen = pick_device(device, amp)
    except MLError as exc:
        print(f"{name}: skipped: {exc.message}")
        return [{"device": name, "step": step, "skipped": exc.message} for step in [*trainings, "evaluate"]]
    print(f"{name}: {chosen.label}")
    rows = []
    common = dict(arch=args.arch, pretrained="imagenet", batch_size=args.batch, seed=args.seed, device=device, amp=amp)
    for step, (mode, epochs) in trainings.items():
        cfg = TrainConfig(mode=mode, epochs=epochs, name=f"{name}-{mode}", **common)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        started = time.perf_counter()
        result = train(root, out, cfg, run_dir=out / "runs" / f"{name}-{mode}")
        rows.append({"device": name, "step": step, "seconds": time.perf_counter() - started,
                     "accuracy": result.metrics["accuracy"], "label": chosen.label})
    started = time.perf_counter()
    metrics = evaluate(result.model_path, root, "test", backend="torch", device=device, out_dir=out / "eval")
    rows.append({"device": name, "step": "evaluate", "seconds": time.perf_counter() - started,
                 "accuracy": metrics["accuracy"], "label": chosen.label})
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=None, help="A folder of class folders (default: generated).")
    parser.add_argument("--per-class", type=int, default=48)
    parser.add_argument("--arch", default="efficientnet_lite0")
    parser.add_argument("--linear-epochs", type=int, default=10)
    parser.add_argument("--finetune-epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--devices", default=",".join(RUNS), help=f"Comma separated, of {', '.join(RUNS)}.")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gpu_check.json")
    args = parser.parse_args(argv)
    names = [d.strip() for d in args.devices.split(",") if d.strip()]
    if "cpu" not in names or any(n not in RUNS for n in names):
        sys.exit(f"--devices must include cpu (the baseline) and name only {', '.join(RUNS)}.")
    if args.dataset is not None and not args.dataset.is_dir():
        sys.exit(f"Dataset not found: {args.dataset}")
    with tempfile.TemporaryDirectory() as tmp:
        root = make_data(Path(tmp) / "data", args.dataset, args.per_class, args.seed)
        rows = [row for name in names for row in run_device(name, root, Path(tmp) / "models", args)]
    base = {r["step"]: r for r in rows if r["device"] == "cpu"}
    lines = []
    for r in rows:
        if "skipped" in r:
            lines.append([r["device"], r["step"], "skipped", "", "", ""])
            continue
        cpu = base[r["step"]]
        r["seconds"] = round(r["seconds"], 2)
        r["speedup_vs_cpu"] = round(cpu["seconds"] / r["seconds"], 2) if r["seconds"] else None
        r["accuracy_minus_cpu"] = round(r["accuracy"] - cpu["accuracy"], 4)
        lines.append([r["device"], r["step"], r["seconds"], f"{r['speedup_vs_cpu']}×", f"{r['accuracy']:.1%}",
                      f"{r['accuracy_minus_cpu']:+.1%}"])
    print()
    print(table(["device", "step", "seconds", "vs cpu", "test accuracy", "Δ vs cpu"], lines))
    result = {
        "benchmark": "gpu_check", "arch": args.arch, "dataset": str(args.dataset or "generated"),
        "per_class": args.per_class, "machine": machine() | {"torch": torch.__version__,
                                                              "cuda": torch.cuda.is_available()},
        "runs": rows,
    }
    return write_result(args.out, result)


if __name__ == "__main__":
    main()
