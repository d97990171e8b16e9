"""Database tables: admin users, datasets, jobs, model versions and their activations, the prediction log and corrections."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask_login import UserMixin
from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db


def utcnow() -> datetime:
    """Timezone-aware now, the one clock every row uses."""
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    """ISO-8601 text in UTC (SQLite hands back naive datetimes; they are UTC too)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


class User(UserMixin, db.Model):
    """An administrator; only the password hash is stored."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def set_password(self, password: str) -> None:
        """Store a salted hash of `password`."""
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        """True when `password` matches the stored hash."""
        return check_password_hash(self.password_hash, password)


class Dataset(db.Model):
    """A dataset folder under DATA_DIR and what the last scan/split/stats found."""

    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    fingerprint: Mapped[str | None] = mapped_column(String(128))
    summary: Mapped[dict | None] = mapped_column(JSON)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "fingerprint": self.fingerprint, "summary": self.summary,
                "updated_at": iso(self.updated_at)}


class Job(db.Model):
    """One background job; the primary key is the RQ job id so the two can always be joined."""

    __tablename__ = "jobs"
    STATUSES = ("queued", "running", "finished", "failed", "cancelled")
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    queue: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    stage: Mapped[str | None] = mapped_column(String(64))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    result: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(64))
    traceback: Mapped[str | None] = mapped_column(Text)
    log: Mapped[str | None] = mapped_column(Text)
    retry_of: Mapped[str | None] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by: Mapped[User | None] = relationship()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    #: A running job's live state from RQ's job.meta ({"stage", "progress", "log"}), set by
    #: `webapp.tasks.reconcile`; never stored (the row gets stage, progress and log once, at the end).
    live = None

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")

    @property
    def current_stage(self) -> str | None:
        """The stage shown: live while the job runs, the last one reached once it ended."""
        return self.live["stage"] if self.live and self.active else self.stage

    @property
    def current_progress(self) -> float:
        """The fraction done shown: live while the job runs, the last one reached once it ended."""
        return (self.live["progress"] if self.live and self.active else self.progress) or 0.0

    def log_tail(self, lines: int = 20) -> list[str]:
        if self.live and self.active and self.live["log"]:
            return self.live["log"][-lines:]
        return (self.log or "").splitlines()[-lines:]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "queue": self.queue, "params": self.params, "status": self.status,
            "stage": self.current_stage, "progress": round(self.current_progress, 4), "result": self.result,
            "error": self.error and {"code": self.error_code or "job_failed", "message": self.error},
            "traceback": self.traceback, "log": self.log_tail(), "retry_of": self.retry_of,
            "created_by": self.created_by.username if self.created_by else None,
            "created_at": iso(self.created_at), "started_at": iso(self.started_at), "finished_at": iso(self.finished_at),
        }


class ModelVersion(db.Model):
    """A trained model file that can serve predictions; at most one row is active."""

    __tablename__ = "model_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(String(1000), unique=True)
    arch: Mapped[str | None] = mapped_column(String(100))
    classes: Mapped[list] = mapped_column(JSON, default=list)
    metrics: Mapped[dict | None] = mapped_column(JSON)
    dataset_fingerprint: Mapped[str | None] = mapped_column(String(128))
    job_id: Mapped[str | None] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def accuracy(self) -> float | None:
        return (self.metrics or {}).get("accuracy")

    #: Metrics anyone may see; the rest (dataset paths, misclassified file names, report files) is for admins.
    PUBLIC_METRICS = ("count", "accuracy", "top_k", "top_k_accuracy", "macro_f1", "per_class", "part")

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arch": self.arch, "classes": self.classes,
                "accuracy": self.accuracy, "metrics": self.metrics, "dataset_fingerprint": self.dataset_fingerprint,
                "active": self.is_active, "created_at": iso(self.created_at), "activated_at": iso(self.activated_at)}

    def public_dict(self) -> dict[str, Any]:
        """What anonymous callers of the API see: whitelisted fields only (no paths, no file lists)."""
        metrics = {k: v for k, v in (self.metrics or {}).items() if k in self.PUBLIC_METRICS}
        per_class = metrics.get("per_class")
        if isinstance(per_class, dict):
            keep = ("precision", "recall", "f1", "support")
            metrics["per_class"] = {str(c): {k: v.get(k) for k in keep} for c, v in per_class.items()
                                    if isinstance(v, dict)}
        return {"id": self.id, "name": self.name, "arch": self.arch, "classes": self.classes,
                "accuracy": self.accuracy, "metrics": metrics, "active": self.is_active,
                "created_at": iso(self.created_at), "activated_at": iso(self.activated_at)}


class Activation(db.Model):
    """One switch of the active model: which one, which it replaced, who did it, how, when (a rollback too)."""

    __tablename__ = "model_activations"
    #: How an activation was asked for: the admin pages, the API, the command line, a rollback (any of the
    #: three), or the shipped default model activated because no model was active.
    VIAS = ("admin", "api", "cli", "rollback", "default")
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    model: Mapped[ModelVersion | None] = relationship(foreign_keys=[model_version_id])
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    previous: Mapped[ModelVersion | None] = relationship(foreign_keys=[previous_id])
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    user: Mapped[User | None] = relationship()
    via: Mapped[str] = mapped_column(String(16), default="cli")

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "model_id": self.model_version_id, "previous_id": self.previous_id,
                "by": self.user.username if self.user else None, "via": self.via, "at": iso(self.created_at)}


class PredictionLog(db.Model):
    """One answered prediction: which model said what, how sure, how fast (no image by default)."""

    __tablename__ = "prediction_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    top_label: Mapped[str] = mapped_column(String(200))
    probability: Mapped[float] = mapped_column(Float)
    latency_ms: Mapped[float] = mapped_column(Float)
    image_path: Mapped[str | None] = mapped_column(String(1000))


class Correction(db.Model):
    """A visitor's "wrong? tell us": the picture (a file under instance/corrections/) and the class they chose."""

    __tablename__ = "corrections"
    STATUSES = ("pending", "accepted", "rejected")
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    predicted_label: Mapped[str | None] = mapped_column(String(200))
    chosen_label: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    image_name: Mapped[str | None] = mapped_column(String(200))
    #: Where an accepted picture went, relative to DATA_DIR (dataset/class/file).
    dataset_path: Mapped[str | None] = mapped_column(String(1000))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_by: Mapped[User | None] = relationship()
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "model_id": self.model_version_id, "predicted": self.predicted_label,
                "chosen": self.chosen_label, "status": self.status, "created_at": iso(self.created_at),
                "dataset_path": self.dataset_path, "decided_at": iso(self.decided_at),
                "decided_by": self.decided_by.username if self.decided_by else None}
