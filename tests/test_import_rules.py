"""The layers as a test: the import-linter contracts in pyproject.toml hold, and they really look at our code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-logo", "--no-cache", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_import_contracts_hold():
    """ml < jobs < webapp, desktop -> ml only, no flask/rq/Qt in ml, no web in jobs, no cycles inside a package."""
    done = lint_imports()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
    for name in ("Layers: webapp above jobs above ml", "The desktop uses ml only", "ml knows no web framework",
                 "Jobs know no web framework", "No import cycles inside a package",
                 "The operations' declarations are torch-free"):
        assert name in done.stdout


def test_a_violated_contract_is_reported(tmp_path):
    """The same tool over the same code does fail a rule the code breaks (webapp imports ml, so ml above webapp)."""
    config = tmp_path / "contracts.toml"
    config.write_text('[tool.importlinter]\nroot_packages = ["ml", "webapp"]\n\n'
                      '[[tool.importlinter.contracts]]\nname = "ml above webapp (false)"\ntype = "layers"\n'
                      'layers = ["ml", "webapp"]\n', encoding="utf-8")
    done = lint_imports("--config", str(config))
    assert done.returncode == 1
    assert "ml above webapp (false) BROKEN" in done.stdout
    assert "webapp is not allowed to import ml" in done.stdout


def test_the_web_app_names_a_host_the_worker_can_open():
    """webapp.tasks puts the host's dotted path under the key jobs.host reads, and it is the web adapter."""
    import importlib

    from jobs.host import HOST_META_KEY
    from webapp.job_adapter import WebJobHost
    from webapp.tasks import JOB_META

    module, _, name = JOB_META[HOST_META_KEY].rpartition(".")
    assert getattr(importlib.import_module(module), name) is WebJobHost


@pytest.mark.parametrize("meta, words", [({}, "names no host"), ({"host": "nowhere.Host"}, "cannot be imported")])
def test_a_job_without_a_usable_host_is_a_clear_error(meta, words):
    """A job enqueued without the host key (plain `rq enqueue`) or with a wrong one fails with a message."""
    from redis import Redis
    from rq.job import Job

    from jobs.host import open_host
    from ml.errors import MLError

    job = Job.create("jobs.dataset.run", connection=Redis(port=1), id="abc", meta=meta)  # never saved: no server needed
    with pytest.raises(MLError, match=words) as caught:
        open_host(job)
    assert caught.value.code == "job_unknown"
