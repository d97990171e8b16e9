"""One name rule (`ml.operations.names`): the web validator, the dataset pages, the listings and the crawler agree."""

import re
from pathlib import Path

import pytest

from ml.crawl.errors import CrawlError
from ml.crawl.folder import check_class_name
from ml.dataset import list_classes
from ml.errors import MLError
from ml.operations import CrawlRequest
from ml.operations.names import BadName, check_name, clean_name
from webapp.datasets.paths import UnsafePath
from webapp.datasets.paths import check_name as page_name
from webapp.errors import InvalidParams
from webapp.tasks import safe_name

ROOT = Path(__file__).resolve().parent.parent
REFUSED = ["__zoo", "__", ".hidden", "..", ".", "../x", "a/b", "a\\b", "", "a:b", "tab\tname", "x" * 101]
ACCEPTED = ["zoo", "cats_2", "猫", "a__b", "snow leopard", "x" * 100]


@pytest.mark.parametrize("name", REFUSED)
def test_every_user_of_the_rule_refuses(name):
    with pytest.raises(BadName):
        check_name(name, "Dataset")
    with pytest.raises(InvalidParams, match="not a valid name"):
        safe_name(name, "Dataset")
    with pytest.raises(UnsafePath):
        page_name(name, "dataset")
    with pytest.raises(CrawlError) as info:
        check_class_name(name)
    assert info.value.code == "bad_class_name"
    with pytest.raises(MLError):
        CrawlRequest(keywords=["猫"], class_name=name).validate()


@pytest.mark.parametrize("name", ACCEPTED)
def test_every_user_of_the_rule_accepts(name):
    assert check_name(name) == name
    assert safe_name(name, "Dataset") == name
    assert page_name(name, "dataset") == name
    assert check_class_name(name) == name
    assert CrawlRequest(keywords=["猫"], class_name=name).validate().class_name == name


def test_typed_names_are_trimmed_and_normalised_but_paths_are_taken_as_given():
    decomposed = "cafe\u0301"  # "café" as macOS writes it
    assert clean_name(f"  {decomposed} ") == "caf\u00e9" == safe_name(f" {decomposed}", "Dataset")
    with pytest.raises(BadName):
        check_name(" zoo")  # a URL or folder name is not silently changed into another one


def test_admin_and_corrections_list_only_datasets_the_pages_open(tmp_path):
    """The one listing (webapp.datasets.paths.dataset_names) leaves out what /datasets/ would refuse."""
    from webapp.datasets.paths import dataset_names

    for name in ("zoo", "猫狗", "__zoo", ".hidden"):
        (tmp_path / name).mkdir()
    (tmp_path / "notes.txt").write_text("x")
    assert dataset_names(tmp_path) == ["zoo", "猫狗"]
    assert dataset_names(tmp_path / "missing") == []


def test_the_classes_of_a_dataset_are_the_folders_the_rule_accepts(tmp_path):
    for name in ("cat", "狗", "__pycache__", ".trash", "a:b"):
        (tmp_path / name).mkdir()
    assert list_classes(tmp_path) == ["cat", "狗"]


def test_no_other_module_writes_its_own_name_rule():
    """The signature of a name rule (refusing a leading "__" or listing forbidden characters) lives in one file."""
    signature = re.compile(r"""startswith\(["']__["']\)|["']/\\\\\\\\:\*\?""")
    found = sorted(str(path.relative_to(ROOT)) for package in ("ml", "webapp", "jobs", "desktop")
                   for path in (ROOT / package).rglob("*.py") if signature.search(path.read_text(encoding="utf-8")))
    assert found == ["ml/operations/names.py"]
