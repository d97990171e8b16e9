"""Benchmark: training wall time and test accuracy, our modes vs a loop written like the original.

    .venv/bin/python bench/train.py [--epochs 3] [--linear-epochs 30] [--arch efficientnet_lite0]

Same backbone (ImageNet weights), same pictures (a scratch copy of ../shared/datasets/animals5,
split with seed 0; the same 90% of train.txt for learning in every run), same test part:

  baseline (original-style)  whole network, Adam, head lr 1e-3 / backbone 1e-4, every picture
                             decoded and resized again in every epoch (torchvision transforms on
                             PIL images, DataLoader), as the original train.py did
  ours: finetune             `ml.training` --mode finetune, same epochs: pictures decoded once and cached
  ours: linear               `ml.training` --mode linear: frozen backbone, head on cached features

Prints a table (wall time, ratio vs baseline, test accuracy); writes bench/results/train.json.
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
from PIL import Image  # noqa: E402
from torch import nn  # noqa: E402
from torchvision import transforms  # noqa: E402

from bench.common import machine, write_result  # noqa: E402
from ml.dataset import read_split, split  # noqa: E402
from ml.models import backbone_parameters, build_model, get_arch, head_of  # noqa: E402
from ml.training import TrainConfig, train  # noqa: E402
from ml.training.data import holdout  # noqa: E402
from ml.training.run import seed_everything  # noqa: E402
from webapp.cli.console import table  # noqa: E402

SHARED = ROOT.parent / "shared" / "datasets" / "animals5"


class ListDataset(torch.utils.data.Dataset):
    """The original's dataset: open and transform the file on every access."""

    def __init__(self, root: Path, rows, transform):
        self.root, self.rows, self.transform = root, rows, transform

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        rel, label = self.rows[i]
        return self.transform(Image.open(self.root / rel).convert("RGB")), label


def baseline(root: Path, arch: str, epochs: int, batch: int, seed: int, val_fraction: float) -> dict:
    """Fine-tune the whole network the way the original train.py did; return time and accuracy."""
    seed_everything(seed)
    spec = get_arch(arch)
    _, train_rows = read_split(root, "train")
    _, test_rows = read_split(root, "test")
    train_rows, _ = holdout(train_rows, val_fraction, seed)
    norm = transforms.Normalize(spec.mean, spec.std)
    train_tf = transforms.Compose(
        [transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(), transforms.ToTensor(), norm]
    )
    test_tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(), norm])
    started = time.perf_counter()
    model = build_model(arch, 5, pretrained="imagenet")
    optimizer = torch.optim.Adam(
        [
            {"params": backbone_parameters(model, arch), "lr": 1e-4},
            {"params": list(head_of(model, arch).parameters()), "lr": 1e-3},
        ]
    )
    criterion = nn.CrossEntropyLoss()
    loader = torch.utils.data.DataLoader(ListDataset(root, train_rows, train_tf), batch_size=batch, shuffle=True)
    test_loader = torch.utils.data.DataLoader(ListDataset(root, test_rows, test_tf), batch_size=batch)
    accuracy = 0.0
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            optimizer.zero_grad()
            criterion(model(x), y).backward()
            optimizer.step()
        model.eval()
        correct = 0
        with torch.inference_mode():
            for x, y in test_loader:
                correct += int((model(x).argmax(1) == y).sum())
        accuracy = correct / len(test_rows)
    return {"run": "baseline (original-style)", "epochs": epochs, "wall_s": time.perf_counter() - started, "test_accuracy": accuracy}


def ours(root: Path, out: Path, arch: str, mode: str, epochs: int, batch: int, seed: int, val_fraction: float) -> dict:
    """One `ml.training` run; time includes decoding/caching and the final test evaluation."""
    cfg = TrainConfig(arch=arch, pretrained="imagenet", mode=mode, epochs=epochs, batch_size=batch, seed=seed,
                      val_fraction=val_fraction, name=f"bench-{mode}")
    started = time.perf_counter()
    result = train(root, out, cfg)
    return {"run": f"ours: {mode}", "epochs": epochs, "wall_s": time.perf_counter() - started,
            "test_accuracy": result.metrics["accuracy"]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=SHARED)
    parser.add_argument("--arch", default="efficientnet_lite0")
    parser.add_argument("--epochs", type=int, default=3, help="epochs for baseline and finetune")
    parser.add_argument("--linear-epochs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "train.json")
    args = parser.parse_args(argv)
    if not args.dataset.is_dir():
        sys.exit(f"Dataset not found: {args.dataset} (expected ../shared/datasets/animals5)")
    val_fraction = 0.1
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "animals5"
        shutil.copytree(args.dataset, root)
        split(root, test=0.2, seed=args.seed)
        runs = [
            baseline(root, args.arch, args.epochs, args.batch, args.seed, val_fraction),
            ours(root, Path(tmp) / "models", args.arch, "finetune", args.epochs, args.batch, args.seed, val_fraction),
            ours(root, Path(tmp) / "models", args.arch, "linear", args.linear_epochs, args.batch, args.seed, val_fraction),
        ]
    base = runs[0]["wall_s"]
    for r in runs:
        r["wall_s"] = round(r["wall_s"], 1)
        r["speedup_vs_baseline"] = round(base / r["wall_s"], 2)
        r["test_accuracy"] = round(r["test_accuracy"], 4)
    print(table(["run", "epochs", "wall (s)", "× vs baseline", "test accuracy"],
                [[r["run"], r["epochs"], r["wall_s"], r["speedup_vs_baseline"], f"{r['test_accuracy']:.1%}"] for r in runs]))
    result = {
        "benchmark": "train",
        "arch": args.arch,
        "machine": machine() | {"torch_threads": torch.get_num_threads()},
        "runs": runs,
    }
    return write_result(args.out, result)


if __name__ == "__main__":
    main()
