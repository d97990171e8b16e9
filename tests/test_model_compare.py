"""Two models side by side (figures out-of-source first, per-class differences marked, recipe), picking them
without JavaScript, and the model page's "retrain with corrections" with the accepted corrections it has not learnt."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from tests.test_model_page import EN, SHIPPED, ZH, _register, pct


def _edit(path: Path, change) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")
    return data


def _pair(app, tmp_path) -> tuple[int, int, dict, dict]:
    """A (the shipped reports) and B (out-of-source: cat recall 10 points lower, dog precision 5 higher; 8 epochs)."""
    a = _register(app, tmp_path / "first")
    b = _register(app, tmp_path / "second")
    oos_a = json.loads((SHIPPED / "animals5.out_of_source.metrics.json").read_text(encoding="utf-8"))

    def worse_cat(report):
        report["per_class"]["cat"]["recall"] -= 0.1
        report["per_class"]["dog"]["precision"] = min(1.0, report["per_class"]["dog"]["precision"] + 0.05)
        report["accuracy"] -= 0.02

    oos_b = _edit(tmp_path / "second" / "animals5.out_of_source.metrics.json", worse_cat)
    _edit(tmp_path / "second" / "animals5.json", lambda meta: meta["train_config"].update(epochs=8))
    return a, b, oos_a, oos_b


def _cell(html: str, row_attr: str, index: int) -> str:
    """The `index`-th <td> of the first row carrying `row_attr`."""
    row = html.split(row_attr, 1)[1].split("</tr>")[0]
    return row.split("<td")[index + 1].split("</td>")[0]


def test_compare_puts_out_of_source_first_and_marks_per_class_differences(app, admin_client, tmp_path):
    a, b, oos_a, oos_b = _pair(app, tmp_path)
    html = admin_client.get(f"/admin/models/compare?a={a}&b={b}", headers=EN).text
    figures = html.split('id="compare-figures"')[1].split("</section>")[0]
    assert figures.index("Out-of-source accuracy") < figures.index("In-source test accuracy") < figures.index("Other things called unknown")
    assert pct(oos_a["accuracy"]) in _cell(figures, 'data-figure="out_of_source"', 0)
    assert pct(oos_b["accuracy"]) in _cell(figures, 'data-figure="out_of_source"', 1)
    assert 'data-sign="worse"' in _cell(figures, 'data-figure="out_of_source"', 2)
    assert 'data-sign="same"' in _cell(figures, 'data-figure="in_source"', 2)

    per_class = html.split('id="compare-per-class"')[1].split("</section>")[0]
    assert per_class.index('data-kind="out_of_source"') < per_class.index('data-kind="in_source"')
    oos = per_class.split('data-kind="out_of_source"')[1].split("</table>")[0]
    assert '<span class="visually-hidden">B is worse</span>' in _cell(oos, 'data-class="cat"', 5)  # recall B − A
    assert "-10.0" in _cell(oos, 'data-class="cat"', 5)
    assert 'data-sign="same"' in _cell(oos, 'data-class="cat"', 2)  # cat precision untouched
    dog_gain = oos_b["per_class"]["dog"]["precision"] - oos_a["per_class"]["dog"]["precision"]
    assert ('data-sign="better"' if dog_gain >= 0.005 else 'data-sign="same"') in _cell(oos, 'data-class="dog"', 2)
    ins = per_class.split('data-kind="in_source"')[1].split("</table>")[0]
    assert ins.count('data-sign="same"') == 2 * ins.count("data-class=")  # same reports: no difference marked

    made = html.split('id="compare-made"')[1].split("</section>")[0]
    assert '<tr data-fact="recipe-epochs" class="differs">' in made and "<td>4</td><td>8</td>" in made
    assert '<tr data-fact="arch">' in made and "efficientnet_lite2" in made
    assert '<tr data-fact="fingerprint">' in made and "animals5plus" in made


def test_models_list_picks_two_models_with_a_plain_form(app, admin_client, tmp_path):
    a, b, _oos_a, _oos_b = _pair(app, tmp_path)
    admin_client.post(f"/admin/models/{a}/activate")
    html = admin_client.get("/admin/models", headers=EN).text
    form = html.split('id="compare-form"')[1].split("</form>")[0]
    assert 'name="a"' in form and 'name="b"' in form and 'type="submit"' in form
    assert f'<option value="{a}" selected>' in form.split('name="a"')[1].split("</select>")[0]  # A: the active model
    assert f'<option value="{b}" selected>' in form.split('name="b"')[1].split("</select>")[0]
    assert html.split('id="compare-form"')[0].rsplit("<form", 1)[1].count('method="get"') == 1
    page = admin_client.get(f"/admin/models/{b}", headers=EN).text
    compare_with = page.split('id="compare-with"')[1].split("</form>")[0]
    assert f'name="a" value="{b}"' in compare_with and f'<option value="{a}" selected>' in compare_with


def test_compare_without_two_models_shows_the_picker_and_unknown_ids_are_404(app, admin_client, tmp_path):
    a = _register(app, tmp_path / "only")
    html = admin_client.get(f"/admin/models/compare?a={a}", headers=EN).text
    assert 'id="compare-form"' in html and "Comparing needs at least two models." in html
    assert 'id="compare-figures"' not in html
    b = _register(app, tmp_path / "other")
    assert "Pick two models to compare." in admin_client.get(f"/admin/models/compare?b={b}", headers=EN).text
    assert admin_client.get(f"/admin/models/compare?a={a}&b=999").status_code == 404
    zh = admin_client.get(f"/admin/models/compare?a={a}&b={a}", headers=ZH).text
    assert "比较模型" in zh and "各类别的精确率和召回率" in zh and "如何训练" in zh


def test_model_page_retrains_with_the_corrections_it_has_not_learnt(app, admin_client, tmp_path):
    from webapp.extensions import db
    from webapp.models import Correction, Job, ModelVersion

    model_id = _register(app, tmp_path / "pets-model")
    (Path(app.config["DATA_DIR"]) / "pets" / "cat").mkdir(parents=True)
    with app.app_context():
        db.session.add(Job(id="train-pets", kind="train", queue="train", params={"dataset": "pets"}))
        row = db.session.get(ModelVersion, model_id)
        row.job_id = "train-pets"
        made = row.created_at
        for n, (status, path, later) in enumerate([("accepted", "pets/cat/c1.jpg", True), ("accepted", "pets/cat/c2.jpg", True),
                                                   ("accepted", "pets/cat/c0.jpg", False), ("accepted", "petsx/cat/c3.jpg", True),
                                                   ("pending", None, True)]):
            db.session.add(Correction(chosen_label="cat", status=status, dataset_path=path, image_name=f"{n}.jpg",
                                      decided_at=made + timedelta(minutes=1 if later else -1)))
        db.session.commit()
    html = admin_client.get(f"/admin/models/{model_id}", headers=EN).text
    section = html.split('id="retrain"')[1].split("</section>")[0]
    assert "2 accepted corrections went into dataset pets since this model was made." in section
    assert 'action="/admin/corrections/retrain"' in section and 'name="dataset" value="pets"' in section
    assert admin_client.post("/admin/corrections/retrain", data={"dataset": "pets"}).status_code == 302
    kinds = {j["kind"]: j["params"] for j in admin_client.get("/api/v1/jobs").get_json()["jobs"] if j["id"] != "train-pets"}
    assert kinds["split"]["dataset"] == "pets" and kinds["train"]["dataset"] == "pets"
    zh = admin_client.get(f"/admin/models/{model_id}", headers=ZH).text
    assert "用纠错重新训练" in zh.split('id="retrain"')[1]
