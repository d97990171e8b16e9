"""The web validator, the dataset pages and the crawler agree on which names are folder names."""

import pytest

from ml.crawl.folder import check_class_name
from ml.errors import MLError
from webapp.datasets.paths import check_name
from webapp.errors import InvalidParams
from webapp.tasks import safe_name

REFUSED = ["__zoo", "__", ".hidden", "..", "../x", "a/b", "a\\b", ""]
ACCEPTED = ["zoo", "cats_2", "猫", "a__b"]


@pytest.mark.parametrize("name", REFUSED)
def test_every_rule_refuses(name):
    with pytest.raises(InvalidParams):
        safe_name(name, "Dataset")
    with pytest.raises(MLError):
        check_name(name, "dataset")
    with pytest.raises(MLError):
        check_class_name(name)


@pytest.mark.parametrize("name", ACCEPTED)
def test_every_rule_accepts(name):
    assert safe_name(name, "Dataset") == name
    assert check_name(name, "dataset") == name
    assert check_class_name(name) == name


def test_admin_and_corrections_list_only_datasets_the_pages_open(tmp_path):
    """The one listing (webapp.datasets.paths.dataset_names) leaves out what /datasets/ would refuse."""
    from webapp.datasets.paths import dataset_names

    for name in ("zoo", "猫狗", "__zoo", ".hidden"):
        (tmp_path / name).mkdir()
    (tmp_path / "notes.txt").write_text("x")
    assert dataset_names(tmp_path) == ["zoo", "猫狗"]
    assert dataset_names(tmp_path / "missing") == []
