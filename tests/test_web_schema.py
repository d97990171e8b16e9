"""A database that was never migrated: servers refuse to start with one line naming `flask db upgrade`
(or migrate first when AUTO_MIGRATE is on), and /readyz says what is wrong."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

from tests.web_support import ROOT, free_port, wait_for
from webapp import create_app
from webapp.extensions import db
from webapp.schema import DatabaseNotMigrated, require_migrated, schema_problem

pytestmark = pytest.mark.timeout(180)


def _server_env(instance, redis_url: str, **extra) -> dict[str, str]:
    """A fresh instance folder on the session's Redis (no embedded server left behind by the server)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    env.update(ANIMALS_INSTANCE_PATH=str(instance), ANIMALS_DEFAULT_MODEL=str(instance / "none.pt"),
               REDIS_URL=redis_url, PYTHONUNBUFFERED="1", **extra)
    return env


def test_complete_schema_passes_and_an_empty_or_old_one_is_named(db_app):
    from flask_migrate import stamp

    with db_app.app_context():
        assert schema_problem(db_app) is None  # db.create_all(): every table, no Alembic revision
        db.drop_all()
        problem = schema_problem(db_app)
        assert problem == "The database has none of the application's tables: it was never migrated"
        with pytest.raises(DatabaseNotMigrated) as err:
            require_migrated(db_app)
        assert err.value.code == "database_not_migrated" and "Run `flask db upgrade`" in err.value.message
        assert "\n" not in err.value.message
        db.create_all()
        stamp(revision="base")  # an Alembic table that names no migration: behind the code
        db.session.remove()
        assert schema_problem(db_app).startswith("The database is at migration none, this code needs ")
        db.session.execute(db.text("DROP TABLE alembic_version"))
        db.session.commit()


def test_readyz_reports_an_unmigrated_database(app, client, caplog):
    with app.app_context():
        db.drop_all()
    with caplog.at_level("WARNING", logger="webapp.health"):
        response = client.get("/readyz")
    # The public answer is the status alone; the reason goes to the log (and to administrators).
    assert response.status_code == 503 and response.get_json() == {"status": "not_ready"}
    assert "database: database_not_migrated" in caplog.text and "flask db upgrade" in caplog.text
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    caplog.clear()
    with caplog.at_level("WARNING", logger="webapp.health"):
        client.get("/readyz")
    assert "database_not_migrated" not in caplog.text


def test_gunicorn_refuses_an_unmigrated_database_with_one_line(tmp_path, embedded_redis):
    command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "--bind",
               f"127.0.0.1:{free_port()}", "wsgi:app"]
    done = subprocess.run(command, cwd=ROOT, env=_server_env(tmp_path, embedded_redis), capture_output=True, text=True, timeout=90)
    assert done.returncode == 1
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    errors = [line for line in lines if "[ERROR]" in line]
    assert len(errors) == 1 and "never migrated. Run `flask db upgrade`" in errors[0], lines
    assert "Traceback" not in done.stderr and "Booting worker" not in done.stderr


def test_flask_worker_refuses_an_unmigrated_database(tmp_path, embedded_redis):
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--burst"], cwd=ROOT,
                          env=_server_env(tmp_path, embedded_redis), capture_output=True, text=True, timeout=90)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("Error: The database has none of the application's tables")
    assert "Traceback" not in done.stderr


def test_gunicorn_with_auto_migrate_migrates_then_serves(tmp_path, embedded_redis):
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "--bind",
               f"127.0.0.1:{port}", "--workers", "1", "wsgi:app"]
    proc = subprocess.Popen(command, cwd=ROOT, env=_server_env(tmp_path, embedded_redis, ANIMALS_AUTO_MIGRATE="true"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def database_check():
        # Listing model versions reads the tables: it answers 200 only on a migrated database.
        try:
            return requests.get(f"http://127.0.0.1:{port}/api/v1/models", timeout=3).status_code == 200
        except requests.RequestException:
            return None

    try:
        assert wait_for(database_check, timeout=90, every=0.5, what="gunicorn") is True
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert "database migrated to the newest schema (AUTO_MIGRATE)" in output
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'animals.sqlite3'}"})
    with app.app_context():
        assert schema_problem(app) is None
        assert "alembic_version" in db.inspect(db.engine).get_table_names()
        db.engine.dispose()
