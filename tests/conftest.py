"""Shared fixtures in the flaskr style: `app`, `client`, `runner`, each on a fresh instance folder."""

from __future__ import annotations

import pytest

from webapp import create_app


@pytest.fixture
def app(tmp_path):
    """An app whose instance data lives in a fresh temporary folder."""
    instance = tmp_path / "instance"
    instance.mkdir()
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "DATA_DIR": str(instance / "datasets"),
            "MODEL_DIR": str(instance / "models"),
        }
    )
    yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
