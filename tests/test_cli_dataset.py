"""`flask dataset scan|split|stats`: tables on success, one clear line and exit 1 on bad input."""

from __future__ import annotations

from tests import imagegen


def test_scan_split_stats_from_the_command_line(runner, tmp_path):
    root = imagegen.make_dataset(tmp_path / "ds", {"猫": 6, "dog": 6})
    (root / "README.md").write_text("x")
    (root / "dog" / "bad.jpg").write_bytes(imagegen.html_page())

    result = runner.invoke(args=["dataset", "scan", str(root)])
    assert result.exit_code == 0, result.output
    assert "猫" in result.output and "TOTAL" in result.output
    assert "Ignored files at the root (not classes): README.md" in result.output
    assert "rejected dog/bad.jpg" in result.output and "HTML page" in result.output

    result = runner.invoke(args=["dataset", "split", str(root), "--test", "0.5", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "straddling parts: 0" in result.output
    assert (root / "train.txt").exists() and (root / "classes.json").exists()

    result = runner.invoke(args=["dataset", "stats", str(root)])
    assert result.exit_code == 0, result.output
    assert "mean" in result.output and "6 training pictures" in result.output


def test_bad_input_exits_non_zero_with_one_line(runner, tmp_path):
    result = runner.invoke(args=["dataset", "scan", str(tmp_path / "missing")])
    assert result.exit_code == 1
    assert "Dataset folder not found" in result.output
    assert "Traceback" not in result.output

    root = imagegen.make_dataset(tmp_path / "tiny", {"a": 1, "b": 4})
    result = runner.invoke(args=["dataset", "split", str(root)])
    assert result.exit_code == 1
    assert "Class 'a' has only 1" in result.output

    result = runner.invoke(args=["dataset", "stats", str(root)])
    assert result.exit_code == 1
    assert "not split yet" in result.output
