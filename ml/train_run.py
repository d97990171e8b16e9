"""The epoch loop of `ml.train`: steps, validation, best/last checkpoints, early stop, TensorBoard."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .artifact import save_artifact
from .device import CPU, Device
from .files import atomic_path
from .progress import check_stop, report


def _save_atomic(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


class Run:
    """One training run in `run_dir`: `fit`, then `restore_best` before scoring."""

    def __init__(self, cfg, loop, model, criterion, run_dir: Path, meta: dict, classes, on_progress, should_stop,
                 device: Device = CPU):
        from torch.utils.tensorboard import SummaryWriter

        self.cfg, self.loop, self.model, self.criterion = cfg, loop, model, criterion
        self.run_dir, self.meta, self.classes = run_dir, meta, list(classes)
        self.on_progress, self.should_stop, self.device = on_progress, should_stop, device
        self.writer = SummaryWriter(log_dir=str(run_dir))
        self.history: list[dict[str, Any]] = []
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] = {}
        self.best_record: dict[str, Any] | None = None
        self.started = time.monotonic()

    def fit(self, resume: dict | None = None) -> None:
        """Train from epoch 0, or from the epoch after the one `resume` (last.pt) recorded."""
        threads = torch.get_num_threads()
        if getattr(self.loop, "single_thread", False):
            # Tiny head-only steps: thread hand-offs cost more than they save, 8x more on a busy CPU.
            torch.set_num_threads(1)
        try:
            self._fit(resume)
        except BaseException:
            self.writer.close()
            raise
        finally:
            torch.set_num_threads(threads)

    def _fit(self, resume: dict | None) -> None:
        cfg, loop = self.cfg, self.loop
        steps = loop.steps_per_epoch()
        optimizer, schedule = optimizer_and_schedule(cfg, loop, steps)
        scaler = self.device.grad_scaler()  # float16 on CUDA only; otherwise it passes through
        total = cfg.epochs * steps
        start_epoch, step, best, stale = 0, 0, None, 0
        if resume:
            loop.trainable.load_state_dict(resume["trainable"])
            optimizer.load_state_dict(resume["optimizer"])
            schedule.load_state_dict(resume["schedule"])
            if hasattr(schedule, "T_max"):
                schedule.T_max = max(total, 1)  # the run may have been given more epochs
            start_epoch, step = int(resume["epoch"]) + 1, int(resume["step"])
            best = tuple(resume["best"]) if resume.get("best") else None
            stale, self.best_epoch = int(resume["stale"]), int(resume["best_epoch"])
            self.history = list(resume["history"])
            self.best_state = resume["best_trainable"]
            self.best_record = next((r for r in self.history if r["epoch"] == self.best_epoch), None)
        has_val = "val" in getattr(loop, "splits", {}) or "val" in getattr(loop, "labels", {})
        session_start, session_steps = time.monotonic(), 0
        for epoch in range(start_epoch, cfg.epochs):
            loop.begin_epoch(epoch)
            loss_sum, correct, seen = 0.0, 0, 0
            for inputs, targets in loop.batches(cfg.seed * 1000 + epoch):
                check_stop(self.should_stop)
                with self.device.autocast():
                    logits = loop.forward(inputs)
                    loss = self.criterion(logits, targets)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                schedule.step()
                step += 1
                session_steps += 1
                loss_sum += loss.item() * len(targets)
                correct += int((logits.argmax(1) == targets).sum())
                seen += len(targets)
                lr = optimizer.param_groups[-1]["lr"]
                eta = (time.monotonic() - session_start) / session_steps * (total - step)
                report(self.on_progress, "train", step, total, epoch=epoch + 1, epochs=cfg.epochs,
                       loss=round(loss_sum / seen, 4), accuracy=round(correct / seen, 4), lr=lr, eta_s=round(eta, 1))
                self.writer.add_scalar("loss/step", loss.item(), step)
            record = {"epoch": epoch + 1, "loss": round(loss_sum / max(seen, 1), 4),
                      "accuracy": round(correct / max(seen, 1), 4), "lr": optimizer.param_groups[-1]["lr"]}
            if has_val:
                logits, labels = loop.logits("val")
                record["val_loss"] = round(float(F.cross_entropy(logits.float(), labels)), 4)
                record["val_accuracy"] = round(float((logits.argmax(1) == labels).float().mean()), 4)
                score = (record["val_accuracy"], -record["val_loss"])
            else:
                score = (float(epoch),)  # no validation: the latest epoch counts as the best
            self.history.append(record)
            for key, value in record.items():
                if key != "epoch":
                    self.writer.add_scalar(key.replace("val_", "val/") if key.startswith("val_") else f"train/{key}", value, epoch + 1)
            if best is None or score > best:
                best, stale, self.best_epoch = score, 0, epoch + 1
                self.best_state = {k: v.detach().clone() for k, v in loop.trainable.state_dict().items()}
                self.best_record = record
                if cfg.mode == "finetune":  # an epoch costs minutes: keep a usable model on disk at once
                    self._save_best()
            else:
                stale += 1
            _save_atomic({
                "epoch": epoch, "step": step, "trainable": loop.trainable.state_dict(),
                "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                "best": list(best), "best_epoch": self.best_epoch, "stale": stale, "best_trainable": self.best_state,
                "history": self.history, "config": dict(self.meta["train_config"]),
            }, self.run_dir / "last.pt")
            report(self.on_progress, "train", step, total, epoch=epoch + 1, epochs=cfg.epochs,
                   **{k: v for k, v in record.items() if k != "epoch"})
            if cfg.patience and has_val and stale >= cfg.patience:
                break

    def _save_best(self) -> None:
        """Write best.pt: a complete model file of the best epoch so far."""
        current = {k: v.detach().clone() for k, v in self.loop.trainable.state_dict().items()}
        self.loop.trainable.load_state_dict(self.best_state)
        record = self.best_record or {}
        meta = self.meta | {"best_epoch": self.best_epoch,
                            "metrics": {"accuracy": record.get("val_accuracy", record.get("accuracy", 0.0))}}
        save_artifact(self.run_dir / "best.pt", self.model.state_dict(), meta)
        self.loop.trainable.load_state_dict(current)

    def restore_best(self) -> None:
        """Put the best epoch's weights into the model and write them to best.pt."""
        self.loop.trainable.load_state_dict(self.best_state)
        self._save_best()
        self.model.eval()

    def log_confusion(self, metrics: dict[str, Any]) -> None:
        """Add the final confusion matrix heatmap to TensorBoard."""
        from .plots import confusion_image

        image = confusion_image(metrics["confusion"], self.classes, title=metrics.get("part", ""))
        self.writer.add_image(f"confusion/{metrics.get('part', 'test')}", image, self.best_epoch, dataformats="HWC")

    def close(self) -> None:
        self.writer.close()


def optimizer_and_schedule(cfg, loop, steps_per_epoch: int):
    """The optimizer over the loop's parameter groups and the learning-rate schedule the config names."""
    groups = loop.param_groups(cfg.lr, cfg.backbone_lr_factor)
    opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    optimizer = opt_cls(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    total = cfg.epochs * steps_per_epoch
    if cfg.schedule == "cosine":
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total, 1))
    elif cfg.schedule == "step":
        every = (cfg.step_epochs or max(1, cfg.epochs // 3)) * steps_per_epoch
        schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(every, 1), gamma=cfg.gamma)
    else:
        schedule = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    return optimizer, schedule
