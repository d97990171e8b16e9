"""Database models on SQLite and PostgreSQL, and migrations that build exactly the models' schema."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import Job, ModelVersion, PredictionLog, User
from webapp.registry import activate_model, active_model, register_model


def _model_file(tmp_path, name):
    path = tmp_path / name / "m.pt"
    path.parent.mkdir()
    path.write_bytes(b"weights")
    return path


def test_users_store_only_a_password_hash(db_app):
    from webapp.auth import AuthError, authenticate, create_user

    with db_app.app_context():
        create_user("ada", "lovelace-1815")
        stored = db.session.execute(db.select(User)).scalar_one()
        assert "lovelace" not in stored.password_hash
        assert authenticate("ada", "lovelace-1815").username == "ada"
        assert authenticate("ada", "wrong") is None and authenticate("bob", "lovelace-1815") is None
        with pytest.raises(AuthError):
            create_user("ada", "another-password")


def test_exactly_one_model_is_active(db_app, tmp_path):
    with db_app.app_context():
        a = register_model(_model_file(tmp_path, "a"), name="a", classes=["猫", "dog"], metrics={"accuracy": 0.9},
                           activate=True)
        b = register_model(_model_file(tmp_path, "b"), name="b", classes=["猫", "dog"])
        assert active_model().id == a.id
        activate_model(b.id)
        assert active_model().id == b.id
        assert db.session.execute(db.select(db.func.count()).where(ModelVersion.is_active)).scalar() == 1
        assert db.session.get(ModelVersion, a.id).as_dict()["classes"] == ["猫", "dog"]


def test_jobs_and_prediction_log_round_trip(db_app, tmp_path):
    with db_app.app_context():
        model = register_model(_model_file(tmp_path, "a"), name="a")
        db.session.add(Job(id="rq-id-1", kind="train", queue="train", params={"epochs": 3, "dataset": "动物"}))
        db.session.add(PredictionLog(model_version_id=model.id, top_label="猫", probability=0.9, latency_ms=12.5))
        db.session.commit()
        job = db.session.get(Job, "rq-id-1")
        assert job.status == "queued" and job.params["dataset"] == "动物" and job.as_dict()["created_at"]
        assert db.session.execute(db.select(PredictionLog)).scalar_one().top_label == "猫"
        db.session.expunge_all()
        db.session.add(Job(id="rq-id-1", kind="crawl", queue="crawl", params={}))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_migrations_build_the_same_schema_as_the_models(db_app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from flask_migrate import upgrade

    with db_app.app_context():
        db.drop_all()
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)
        assert diff == []
        tables = set(db.inspect(db.engine).get_table_names())
        assert {"users", "datasets", "jobs", "model_versions", "prediction_log", "alembic_version"} <= tables
