from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from datamodules.io.au_severity import AU_SEVERITY_CLASSES, read_au_severity_csv
from datamodules.io.au_table import ALL_AU_COLUMNS, DataFormatError


def write_severity(path: Path, labels: list[object], *, drop: tuple[str, ...] = (), spaced: bool = False,
                   group: list[str] | None = None) -> Path:
    """Columns in a scrambled order (label first) to check reading by name."""
    cols = [c for c in reversed(ALL_AU_COLUMNS) if c not in drop]
    names = [(" " + c) if spaced else c for c in cols]
    header = ["label", *names] + (["person"] if group else [])
    lines = [",".join(header)]
    for i, lab in enumerate(labels):
        vals = [str(ALL_AU_COLUMNS.index(c) + i / 10) if c.endswith("_r") else str(i % 2) for c in cols]
        lines.append(",".join([str(lab), *vals] + ([group[i]] if group else [])))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_good_file_with_groups(tmp_path: Path) -> None:
    path = write_severity(tmp_path / "au.csv", [0, 1, 2, 3], spaced=True, group=["a", "a", "b", "c"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x, y, g = read_au_severity_csv(path, group_column="person")
    assert x.shape == (4, 35) and x.dtype == np.float32 and y.dtype == np.int64
    assert y.tolist() == [0, 1, 2, 3] and g.tolist() == ["a", "a", "b", "c"]
    assert x[2, ALL_AU_COLUMNS.index("AU04_r")] == pytest.approx(2.2)
    assert x[1, ALL_AU_COLUMNS.index("AU28_c")] == 1.0
    assert AU_SEVERITY_CLASSES == ("healthy", "mild", "moderate", "severe")


def test_leakage_warning_without_group(tmp_path: Path) -> None:
    path = write_severity(tmp_path / "au.csv", [3, 2])
    with pytest.warns(UserWarning, match="LEAKS IDENTITY"):
        x, y, g = read_au_severity_csv(path)
    assert g is None and y.tolist() == [3, 2]


def test_missing_columns_listed(tmp_path: Path) -> None:
    path = write_severity(tmp_path / "au.csv", [0], drop=("AU28_c", "AU07_r"))
    with pytest.raises(DataFormatError, match=r"au.csv: missing 2 AU column\(s\): \['AU07_r', 'AU28_c'\]"):
        read_au_severity_csv(path, group_column="x")


def test_missing_label_column_lists_present(tmp_path: Path) -> None:
    path = write_severity(tmp_path / "au.csv", [0])
    with pytest.raises(DataFormatError, match=r"no label column 'class'; columns present: \['label', 'AU45_c'"):
        read_au_severity_csv(path, label_column="class")


@pytest.mark.parametrize("bad", ["4", "1.5", "x", ""])
def test_bad_label_row(tmp_path: Path, bad: str) -> None:
    path = write_severity(tmp_path / "au.csv", [0, 1, bad, 2])
    with pytest.raises(DataFormatError, match=r"data row 3 \(file line 4\), column 'label'"):
        read_au_severity_csv(path)
