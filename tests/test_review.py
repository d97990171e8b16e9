"""Review before training: the suspects job (a real RQ worker), the review page, keep/trash/move and undo."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from ml.dataset import read_split, split
from ml.review import find_suspects, judge, read_suspects, suspects_path, write_suspects
from tests.imagegen import CLASS_COLOURS, encode, make_dataset, tinted
from tests.web_support import run_worker

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}
CARD = re.compile(r'<li id="r-(\d+)" class="review-item( suspect)?"[^>]*data-path="([^"]+)"')
#: Small pictures and features: the job embeds 17 pictures in a few seconds on one core.
FAST = {"backbone": "efficientnet_lite0", "image_size": 128}


@pytest.fixture(autouse=True)
def thumbs_in_tmp(app, tmp_path):
    app.config["THUMB_DIR"] = str(tmp_path / "thumbs")
    app.config["REVIEW_OPTIONS"] = FAST


def colour_classes(root: Path, per_class: int = 8) -> Path:
    """Class "red" all red, class "green" all green, plus red/odd.jpg: a green picture filed as red."""
    for ci, cls in enumerate(("green", "red")):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            (root / cls / f"{i:04d}.jpg").write_bytes(encode(tinted(ci * 100 + i, CLASS_COLOURS[1 - ci])))
    (root / "red" / "odd.jpg").write_bytes(encode(tinted(999, CLASS_COLOURS[1])))
    return root


def cards(html: str) -> list[tuple[str, bool]]:
    """(path, flagged as suspect) of each review card, in page order."""
    return [(path, bool(suspect)) for _pos, suspect, path in CARD.findall(html)]


def test_judge_flags_a_vector_nearer_the_other_class_and_one_far_from_its_own():
    rng = np.random.default_rng(0)
    a = np.array([1.0, 0, 0, 0]) + rng.normal(0, 0.05, (8, 4))
    b = np.array([0, 1.0, 0, 0]) + rng.normal(0, 0.05, (8, 4))
    stray = np.array([[0.1, 1.0, 0, 0]])  # filed under a, looks like b
    lost = np.array([[0.6, 0, 0.8, 0]])   # filed under b, like neither
    feats = np.concatenate([a, stray, b, lost])
    labels = [0] * 9 + [1] * 9
    verdicts = judge(feats, labels, 2)
    flagged = {i: v for i, v in enumerate(verdicts) if v["reasons"]}
    assert flagged[8]["reasons"][0] == "closer_to" and flagged[8]["nearest"] == 1
    assert "far" in flagged[17]["reasons"]
    assert set(flagged) == {8, 17}  # the well-filed pictures are left alone
    assert flagged[8]["score"] > 0 and verdicts[0]["own"] > verdicts[0]["other"]


def test_suspects_job_in_a_real_worker_flags_the_picture_that_looks_like_another_class(app, admin_client):
    root = colour_classes(Path(app.config["DATA_DIR"]) / "colours")
    html = admin_client.get("/datasets/colours/review?cls=red", headers=EN).text
    assert 'id="review-none"' in html and "Compute suspects" in html  # no job result yet: the scan's flags only
    response = admin_client.post("/datasets/colours/review/compute", data={"cls": "red"})
    assert response.status_code == 303
    page = admin_client.get("/datasets/colours/review?cls=red", headers=EN).text
    assert 'id="review-progress"' in page and "/api/v1/jobs/" in page  # queued: the page shows its progress
    run_worker(app)

    found = read_suspects(root)
    assert found["features"] == {"kind": "backbone", "name": "efficientnet_lite0", "size": 128}
    assert found["checked"] == 17
    odd = found["suspects"]["red/odd.jpg"]
    assert odd["reasons"][0] == "closer_to" and odd["nearest"] == "green"
    assert odd["other"] > odd["own"]
    assert len(found["suspects"]) <= 3  # the colours are the classes: hardly anything else is suspect

    html = admin_client.get("/datasets/colours/review?cls=red", headers=EN).text
    shown = cards(html)
    assert shown[0] == ("red/odd.jpg", True)  # suspects first
    assert len(shown) == 9
    first = html.split('id="r-0"')[1].split("</li>")[0]
    assert 'data-reason="closer_to">closer to green</span>' in first
    assert '<option value="green" selected>' in first  # "move" proposes the class it looks like
    assert 'id="review-found"' in html and "efficientnet_lite0" in html
    zh = admin_client.get("/datasets/colours/review?cls=red", headers=ZH).text
    assert "更像 green" in zh


def test_review_job_uses_the_active_models_features_and_unknown_score(app, admin_client, tiny_model, tmp_path):
    from tests.conftest import register_tiny
    from tests.modelgen import ALWAYS_UNKNOWN, with_meta

    root = colour_classes(Path(app.config["DATA_DIR"]) / "colours", per_class=5)
    # The model's open-set check here finds every picture unlike its classes: each gets that reason.
    model = with_meta(tiny_model, tmp_path / "strict" / "tiny.pt", open_set=ALWAYS_UNKNOWN)
    model_id = register_tiny(app, model)
    admin_client.post("/datasets/colours/review/compute", data={})
    run_worker(app)
    found = read_suspects(root)
    assert found["features"]["kind"] == "model" and found["features"]["path"] == str(model)
    assert found["checked"] == 11
    assert len(found["suspects"]) == 11 and all("unknown" in v["reasons"] for v in found["suspects"].values())
    html = admin_client.get("/datasets/colours/review?cls=red", headers=EN).text
    assert 'data-reason="unknown">unlike every class</span>' in html
    with app.app_context():
        from webapp.extensions import db
        from webapp.models import Job

        job = db.session.execute(db.select(Job).where(Job.kind == "review")).scalar_one()
        assert job.status == "finished" and job.params["model_id"] == model_id


def _split_colours(app) -> Path:
    root = make_dataset(Path(app.config["DATA_DIR"]) / "pets", {"cat": 6, "dog": 6}, coloured=True)
    split(root, test=0.3, seed=0)
    write_suspects(root, {"version": 1, "time": "2026-01-01T00:00:00+00:00", "classes": ["cat", "dog"], "checked": 12,
                          "features": {"kind": "backbone", "name": "efficientnet_lite0", "size": 128},
                          "suspects": {"cat/0004.jpg": {"reasons": ["closer_to"], "nearest": "dog", "score": 2.0},
                                       "cat/0002.jpg": {"reasons": ["far"], "nearest": None, "score": 1.0}}})
    return root


def _rows(root: Path) -> dict[str, tuple[str, int]]:
    out = {}
    for part in ("train", "test"):
        classes, rows = read_split(root, part)
        out.update({rel: (part, label) for rel, label in rows})
    return out


def test_keep_trash_move_and_undo_through_the_forms(app, admin_client):
    root = _split_colours(app)
    html = admin_client.get("/datasets/pets/review", headers=EN).text
    assert [c for c in cards(html)][:3] == [("cat/0004.jpg", True), ("cat/0002.jpg", True), ("cat/0000.jpg", False)]
    assert "Keys:" in html and "u undoes the last action" in html
    assert "<script>" not in html and " onclick=" not in html  # behaviour comes from review.js (CSP)
    rows_before = _rows(root)

    # keep: no longer a suspect, listed after the others' suspects, undo puts the flag back
    response = admin_client.post("/datasets/pets/review/act", data={"path": "cat/0004.jpg", "action": "keep",
                                                                    "cls": "cat", "at": "0"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/datasets/pets/review?cls=cat#r-0")
    decisions = json.loads((root / ".review" / "decisions.json").read_text())
    assert "cat/0004.jpg" in decisions["kept"]
    html = admin_client.get("/datasets/pets/review?cls=cat", headers=EN).text
    assert cards(html)[0] == ("cat/0002.jpg", True) and ("cat/0004.jpg", False) in cards(html)
    assert 'data-reason="kept"' in html
    admin_client.post("/datasets/pets/review/undo", data={"cls": "cat"})
    assert cards(admin_client.get("/datasets/pets/review?cls=cat").text)[0] == ("cat/0004.jpg", True)

    # trash: the file goes to the trash folder and leaves the split; undo brings both back
    admin_client.post("/datasets/pets/review/act", data={"path": "cat/0004.jpg", "action": "trash", "cls": "cat"})
    assert not (root / "cat" / "0004.jpg").exists() and (root / ".trash" / "cat" / "0004.jpg").is_file()
    assert "cat/0004.jpg" not in _rows(root)
    response = admin_client.post("/datasets/pets/review/undo", data={"cls": "cat"}, follow_redirects=True, headers=EN)
    assert "is back as it was" in response.text
    assert (root / "cat" / "0004.jpg").is_file() and not (root / ".trash" / "cat" / "0004.jpg").exists()
    assert _rows(root)["cat/0004.jpg"] == rows_before["cat/0004.jpg"]

    # move to the class it looks like; undo moves it back with its label
    admin_client.post("/datasets/pets/review/act", data={"path": "cat/0004.jpg", "action": "move", "target": "dog",
                                                         "cls": "cat"})
    assert (root / "dog" / "0004.1.jpg").is_file() or (root / "dog" / "0004.jpg").is_file()
    assert not (root / "cat" / "0004.jpg").exists()
    admin_client.post("/datasets/pets/review/undo", data={"cls": "cat"})
    assert (root / "cat" / "0004.jpg").is_file() and sorted(p.name for p in (root / "dog").iterdir()) == [
        f"{i:04d}.jpg" for i in range(6)]
    assert _rows(root) == rows_before

    # every edit went through the dataset's edit log; nothing more to undo
    log = [json.loads(line)["action"] for line in (root / ".trash" / "edits.jsonl").read_text().splitlines()]
    assert log == ["delete", "restore", "move", "move"]
    response = admin_client.post("/datasets/pets/review/undo", data={"cls": "cat"}, follow_redirects=True, headers=EN)
    assert "Nothing to undo." in response.text
    assert read_suspects(root)["suspects"]  # the job's result is never rewritten by the page
    assert suspects_path(root).parent == root / ".review"


def test_next_must_be_local_and_done_continues_there(app, admin_client, client):
    _split_colours(app)
    assert client.get("/datasets/pets/review").status_code == 302  # visitors go to the login page
    assert 'id="review-link"' not in client.get("/datasets/pets/").text
    assert 'id="review-link" href="/datasets/pets/review"' in admin_client.get("/datasets/pets/").text
    for bad in ("https://evil.example/x", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "x/y"):
        assert admin_client.get("/datasets/pets/review", query_string={"next": bad}).status_code == 400, bad
    html = admin_client.get("/datasets/pets/review?next=/builder/7", headers=EN).text
    assert "Done reviewing — continue" in html and 'name="next" value="/builder/7"' in html
    assert "审核完毕，继续" in admin_client.get("/datasets/pets/review?next=/builder/7", headers=ZH).text
    assert admin_client.post("/datasets/pets/review/done", data={"next": "https://evil.example"}).status_code == 400
    response = admin_client.post("/datasets/pets/review/done", data={"next": "/builder/7"})
    assert response.status_code == 303 and response.headers["Location"] == "/builder/7"
    from ml.review import read_decisions

    root = Path(app.config["DATA_DIR"]) / "pets"
    assert read_decisions(root)["done"]["user"] == "admin"  # what a pipeline waiting at review reads (no web app)
    # the actions keep `next` on the way back
    response = admin_client.post("/datasets/pets/review/act", data={"path": "cat/0001.jpg", "action": "keep",
                                                                    "cls": "cat", "next": "/builder/7", "at": "3"})
    assert response.headers["Location"].endswith("/datasets/pets/review?cls=cat&next=/builder/7#r-3")


def test_find_suspects_needs_two_classes(tmp_path):
    from ml.errors import MLError

    make_dataset(tmp_path / "one", {"cat": 3})
    with pytest.raises(MLError) as caught:
        find_suspects(tmp_path / "one")
    assert caught.value.code == "too_few_classes"


def test_flask_dataset_review_prints_and_saves_the_suspects(runner, tmp_path):
    root = colour_classes(tmp_path / "colours", per_class=6)
    result = runner.invoke(args=["dataset", "review", str(root), "--image-size", "128"])
    assert result.exit_code == 0, result.output
    assert "red/odd.jpg" in result.output and "closer_to" in result.output and "green" in result.output
    assert read_suspects(root)["suspects"]["red/odd.jpg"]["nearest"] == "green"
    bad = runner.invoke(args=["dataset", "review", str(root), "--backbone", "vgg99"])
    assert bad.exit_code != 0 and "Traceback" not in bad.output
