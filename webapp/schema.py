"""Is the database migrated? Servers refuse to start on one that is not (or migrate it: AUTO_MIGRATE).

A database that was never migrated (or is behind the code's migrations) would answer /healthz and
then fail every request with `no such table`. So gunicorn (gunicorn.conf.py's `on_starting`) and
`flask worker` check first and stop with one line naming the command to run; /readyz reports it.

"Migrated" means: every table the models declare exists and, when Alembic's `alembic_version`
table is there, it names the newest migration. (`db.create_all()`, the tests' shortcut, builds
every table without an Alembic revision; that schema is complete, so it passes.)
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

from flask import Flask

from .errors import AppError

UPGRADE_COMMAND = "flask db upgrade"


class DatabaseNotMigrated(AppError):
    """The database lacks tables or migrations this code needs: an operator must run `flask db upgrade`."""

    status = 503
    code = "database_not_migrated"


@functools.lru_cache(maxsize=4)
def migration_heads(directory: str) -> frozenset[str]:
    """The newest revision(s) among the migration scripts in `directory`."""
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory(directory).get_heads())


def schema_problem(app: Flask) -> str | None:
    """What is wrong with the database's schema for this code (one sentence), or None when it is complete."""
    from alembic.migration import MigrationContext

    from .extensions import db

    with db.engine.connect() as conn:
        tables = set(db.inspect(conn).get_table_names())
        current = set(MigrationContext.configure(conn).get_current_heads()) if "alembic_version" in tables else None
    declared = set(db.metadata.tables)
    missing = sorted(declared - tables)
    if not tables & declared:
        return "The database has none of the application's tables: it was never migrated"
    heads = migration_heads(app.extensions["migrate"].directory)
    if current is not None and current != heads:
        have = ", ".join(sorted(current)) or "none"
        return f"The database is at migration {have}, this code needs {', '.join(sorted(heads))}"
    if missing:
        return f"The database lacks the table(s) {', '.join(missing)}"
    return None


def not_migrated_message(problem: str) -> str:
    """The one line an operator reads: what is wrong and the command that fixes it."""
    return (f"{problem}. Run `{UPGRADE_COMMAND}` (with the same DATABASE_URL), or set ANIMALS_AUTO_MIGRATE=true "
            "to migrate when the server starts.")


def require_migrated(app: Flask) -> None:
    """Raise DatabaseNotMigrated unless the schema is complete (call inside an app context)."""
    problem = schema_problem(app)
    if problem:
        raise DatabaseNotMigrated(not_migrated_message(problem))


def prepare_schema(app: Flask) -> bool:
    """Check the schema, or bring it up to date first when AUTO_MIGRATE is on; True when it migrated."""
    with app.app_context():
        migrated = False
        if app.config.get("AUTO_MIGRATE") and schema_problem(app):
            from flask_migrate import upgrade

            upgrade()
            migrated = True
        require_migrated(app)
    return migrated


def check_before_serving(log: Callable[[str], None], error: Callable[[str], None]) -> None:
    """For a server's start (gunicorn's master): migrate or check the database; exit 1 with one line if unusable."""
    from sqlalchemy.exc import SQLAlchemyError

    from . import create_app
    from .extensions import db

    app = create_app()
    try:
        if prepare_schema(app):
            log("database migrated to the newest schema (AUTO_MIGRATE)")
    except DatabaseNotMigrated as exc:
        error(exc.message)
        sys.exit(1)
    except SQLAlchemyError as exc:  # down for now, perhaps starting too: serve, and let /readyz say so
        error(f"could not check the database schema ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
              "starting anyway, /readyz reports the database")
    finally:
        with app.app_context():
            db.engine.dispose()  # no connection may be shared with the workers forked after this
