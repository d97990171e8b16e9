"""The epoch loop: steps, validation, the best epoch, early stop, TensorBoard, and the checkpoints.

    loop = TrainingLoop(cfg, strategy, model, criterion, run_dir, meta, ...)
    loop.fit(load_checkpoint(run_dir, cfg) if cfg.resume else None)
    loop.restore_best()          # the best epoch's weights (WiSE-FT averaged with the start), ready to score
    remove_checkpoints(run_dir)  # once the model file is written

Checkpoints, written and read here only: `last.pt` after every epoch (what a resume continues
from: the trainable weights, optimizer, schedule, history, best epoch so far and the settings) and,
in `finetune` mode, `best.pt` at each new best epoch (a complete model file, so a long run has a
usable model on disk before it ends). Both serve an unfinished run: a finished one deletes them,
since its model file holds the best epoch.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..artifact import save_artifact
from ..device import CPU, Device
from ..errors import MLError
from ..files import atomic_path
from ..operations.train import RESUMABLE_CHANGES
from ..progress import check_stop, report

#: Settings newer than some checkpoints, with the value that behaves as runs saved before them did.
SETTINGS_ADDED_SINCE: dict[str, Any] = {"wise_alpha": 1.0}

LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"


def save_checkpoint(run_dir: Path, state: dict[str, Any]) -> None:
    """Write last.pt atomically (a run killed while writing keeps the previous epoch's)."""
    with atomic_path(Path(run_dir) / LAST_CHECKPOINT) as tmp:
        torch.save(state, tmp)


def load_checkpoint(run_dir: Path, cfg) -> dict[str, Any]:
    """last.pt of an interrupted run, or MLError: nothing_to_resume, resume_mismatch (settings changed)."""
    last = Path(run_dir) / LAST_CHECKPOINT
    if not last.exists():
        raise MLError(f"Nothing to resume: {last} does not exist.", code="nothing_to_resume")
    try:
        state = torch.load(last, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise MLError(f"{last} cannot be read to resume ({str(exc)[:200]}).", code="nothing_to_resume") from None
    # A run saved before a setting existed ran as that setting's "off" value does: match it as such.
    before = {k: v for k, v in (SETTINGS_ADDED_SINCE | state["config"]).items() if k not in RESUMABLE_CHANGES}
    now = {k: v for k, v in asdict(cfg).items() if k not in RESUMABLE_CHANGES}
    changed = sorted(k for k in now if before.get(k) != now[k])
    if changed:
        raise MLError(f"Cannot resume with changed settings: {', '.join(changed)}.", code="resume_mismatch")
    return state


def remove_checkpoints(run_dir: Path) -> None:
    """Delete last.pt and best.pt: the run is finished and its model file holds the best epoch."""
    for name in (LAST_CHECKPOINT, BEST_CHECKPOINT):
        (Path(run_dir) / name).unlink(missing_ok=True)


class TrainingLoop:
    """One training run in `run_dir`: `fit`, then `restore_best` before scoring."""

    def __init__(self, cfg, strategy, model, criterion, run_dir: Path, meta: dict, classes, on_progress, should_stop,
                 device: Device = CPU, *, has_val: bool = False):
        from torch.utils.tensorboard import SummaryWriter

        self.cfg, self.strategy, self.model, self.criterion = cfg, strategy, model, criterion
        self.run_dir, self.meta, self.classes, self.has_val = run_dir, meta, list(classes), has_val
        self.on_progress, self.should_stop, self.device = on_progress, should_stop, device
        self.writer = SummaryWriter(log_dir=str(run_dir))
        self.history: list[dict[str, Any]] = []
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] = {}
        self.best_record: dict[str, Any] | None = None
        #: The trainable weights before the first epoch (pretrained stages, probed head): WiSE-FT's other end.
        self.start_state: dict[str, torch.Tensor] = {}
        #: {"alpha", "val_accuracy", "val_loss"} of the averaged weights, once restore_best averaged them.
        self.wise: dict[str, Any] | None = None
        self.started = time.monotonic()

    def fit(self, resume: dict | None = None) -> None:
        """Train from epoch 0, or from the epoch after the one `resume` (last.pt) recorded."""
        threads = torch.get_num_threads()
        if self.strategy.single_thread:
            # Tiny head-only steps: thread hand-offs cost more than they save, 8x more on a busy CPU.
            torch.set_num_threads(1)
        try:
            self._fit(resume)
        except BaseException:
            self.writer.close()
            raise
        finally:
            torch.set_num_threads(threads)

    def _checkpoint(self, epoch: int, step: int, best, stale: int, optimizer, schedule) -> dict[str, Any]:
        """What last.pt holds; `_resume` reads the same keys back."""
        return {
            "epoch": epoch, "step": step, "trainable": self.strategy.trainable.state_dict(),
            "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
            "best": list(best), "best_epoch": self.best_epoch, "stale": stale, "best_trainable": self.best_state,
            "start_trainable": self.start_state, "history": self.history, "config": dict(self.meta["train_config"]),
        }

    def _resume(self, state: dict[str, Any], optimizer, schedule, total: int) -> tuple[int, int, tuple | None, int]:
        """Load last.pt's weights and loop state; the (start epoch, step, best score, stale epochs) to go on from."""
        self.strategy.trainable.load_state_dict(state["trainable"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        if hasattr(schedule, "T_max"):
            schedule.T_max = max(total, 1)  # the run may have been given more epochs
        self.best_epoch = int(state["best_epoch"])
        self.history = list(state["history"])
        self.best_state = state["best_trainable"]
        self.start_state = state.get("start_trainable") or {}
        self.best_record = next((r for r in self.history if r["epoch"] == self.best_epoch), None)
        best = tuple(state["best"]) if state.get("best") else None
        return int(state["epoch"]) + 1, int(state["step"]), best, int(state["stale"])

    def _fit(self, resume: dict | None) -> None:
        cfg, strategy = self.cfg, self.strategy
        steps = strategy.steps_per_epoch()
        optimizer, schedule = optimizer_and_schedule(cfg, strategy, steps)
        scaler = self.device.grad_scaler()  # float16 on CUDA only; otherwise it passes through
        total = cfg.epochs * steps
        start_epoch, step, best, stale = 0, 0, None, 0
        if resume:
            start_epoch, step, best, stale = self._resume(resume, optimizer, schedule, total)
        else:
            self.start_state = {k: v.detach().clone() for k, v in strategy.trainable.state_dict().items()}
        session_start, session_steps = time.monotonic(), 0
        for epoch in range(start_epoch, cfg.epochs):
            strategy.begin_epoch(epoch)
            loss_sum, correct, seen = 0.0, 0, 0
            for inputs, targets in strategy.batches(cfg.seed * 1000 + epoch):
                check_stop(self.should_stop)
                with self.device.autocast():
                    logits = strategy.forward(inputs)
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
            if self.has_val:
                record |= self._validation()
                score = (record["val_accuracy"], -record["val_loss"])
            else:
                score = (float(epoch),)  # no validation: the latest epoch counts as the best
            self.history.append(record)
            for key, value in record.items():
                if key != "epoch":
                    self.writer.add_scalar(key.replace("val_", "val/") if key.startswith("val_") else f"train/{key}", value, epoch + 1)
            if best is None or score > best:
                best, stale, self.best_epoch = score, 0, epoch + 1
                self.best_state = {k: v.detach().clone() for k, v in strategy.trainable.state_dict().items()}
                self.best_record = record
                if cfg.mode == "finetune":  # an epoch costs minutes: keep a usable model on disk at once
                    self._save_best()
            else:
                stale += 1
            save_checkpoint(self.run_dir, self._checkpoint(epoch, step, best, stale, optimizer, schedule))
            report(self.on_progress, "train", step, total, epoch=epoch + 1, epochs=cfg.epochs,
                   **{k: v for k, v in record.items() if k != "epoch"})
            if cfg.patience and self.has_val and stale >= cfg.patience:
                break

    def _validation(self) -> dict[str, float]:
        """Loss and accuracy of the model as it is now on the validation part."""
        logits, labels = self.strategy.logits("val")
        return {"val_loss": round(float(F.cross_entropy(logits.float(), labels)), 4),
                "val_accuracy": round(float((logits.argmax(1) == labels).float().mean()), 4)}

    def _save_best(self) -> None:
        """Write best.pt: a complete model file of the best epoch so far."""
        current = {k: v.detach().clone() for k, v in self.strategy.trainable.state_dict().items()}
        self.strategy.trainable.load_state_dict(self.best_state)
        record = self.best_record or {}
        meta = self.meta | {"best_epoch": self.best_epoch,
                            "metrics": {"accuracy": record.get("val_accuracy", record.get("accuracy", 0.0))}}
        save_artifact(self.run_dir / BEST_CHECKPOINT, self.model.state_dict(), meta)
        self.strategy.trainable.load_state_dict(current)

    def restore_best(self) -> None:
        """Put the best epoch's weights into the model, in eval mode, to be scored and saved.

        With `wise_alpha` below 1 they are first averaged with the weights the run started from
        (WiSE-FT, Wortsman et al., CVPR 2022): alpha × best + (1 − alpha) × start, tensor by tensor.
        BatchNorm statistics are frozen in last_stages, so only learnt weights move; integer
        buffers keep the best epoch's values.
        """
        alpha = 1.0 if self.cfg.wise_alpha is None else float(self.cfg.wise_alpha)  # 0 is a real choice: the start
        state = self.best_state
        if alpha < 1.0 and self.start_state:
            state = {k: (alpha * v.float() + (1 - alpha) * self.start_state[k].float()).to(v.dtype)
                     if v.is_floating_point() and k in self.start_state else v for k, v in state.items()}
        self.strategy.trainable.load_state_dict(state)
        self.model.eval()
        if alpha < 1.0 and self.start_state:
            self.wise = {"alpha": alpha}
            if self.has_val:
                self.wise |= self._validation()

    def log_confusion(self, metrics: dict[str, Any]) -> None:
        """Add the final confusion matrix heatmap to TensorBoard."""
        from ..plots import confusion_image

        image = confusion_image(metrics["confusion"], self.classes, title=metrics.get("part", ""))
        self.writer.add_image(f"confusion/{metrics.get('part', 'test')}", image, self.best_epoch, dataformats="HWC")

    def close(self) -> None:
        """Flush and close the TensorBoard log."""
        self.writer.close()


def optimizer_and_schedule(cfg, strategy, steps_per_epoch: int):
    """The optimizer over the strategy's parameter groups and the learning-rate schedule the config names."""
    groups = strategy.param_groups(cfg.lr, cfg.backbone_lr_factor)
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


__all__ = ["RESUMABLE_CHANGES", "TrainingLoop", "load_checkpoint", "remove_checkpoints", "save_checkpoint"]
