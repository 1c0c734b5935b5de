"""Format detection and loading any public-format folder by path."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenerec.data.public import detect_format, load_path
from scenerec.errors import SchemaError
from tests.data.public.helpers import ML1M_RATINGS, write_ml1m


def test_detects_movielens_and_recbole_folders(tmp_path: Path) -> None:
    ml = write_ml1m(tmp_path / "unzipped" / "ml-1m")
    assert detect_format(ml) == "movielens"
    assert detect_format(ml.parent) == "movielens"  # the release folder one level down
    rb = tmp_path / "rb"
    rb.mkdir()
    (rb / "x.inter").write_text("user_id:token\titem_id:token\nu1\ti1\n")
    assert detect_format(rb) == "recbole"


def test_load_path_detects_or_takes_the_format(tmp_path: Path) -> None:
    ml = write_ml1m(tmp_path / "ml-1m")
    assert load_path(ml).events.height == len(ML1M_RATINGS.splitlines())
    assert load_path(ml, format="movielens").name == "ml-1m"


def test_unknown_folder_or_format_names_the_fix(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(SchemaError, match="--format"):
        detect_format(tmp_path)
    with pytest.raises(SchemaError, match="dataset folder"):
        detect_format(tmp_path / "notes.txt")
    with pytest.raises(SchemaError, match="unknown format"):
        load_path(tmp_path, format="csv")
