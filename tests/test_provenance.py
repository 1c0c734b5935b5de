"""Provenance and packaging: results and runs say where they came from; the package metadata
uses an SPDX license string (setuptools' deprecation warning is gone)."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

from scenerec import __version__
from scenerec.provenance import git_commit, provenance

ROOT = Path(__file__).resolve().parents[1]


def test_provenance_has_version_commit_date_and_machine(tmp_path: Path) -> None:
    p = provenance()
    assert p["scenerec"] == __version__
    assert dt.datetime.fromisoformat(p["date"]).tzinfo is not None
    assert p["machine"]["cpus"] and p["versions"]["python"]
    assert git_commit(tmp_path) is None  # outside a checkout: None, not an error


def test_pyproject_uses_an_spdx_license_string() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert not any(c.startswith("License ::") for c in project.get("classifiers", []))
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    assert any(r.startswith("setuptools>=77") for r in build["requires"])
