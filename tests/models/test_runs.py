"""Run directories are verified before use: a tampered, truncated, foreign, wrong-shape,
non-finite or unreadable run is refused with one line naming the file, in the library and on the
command line (exit 1)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from safetensors.numpy import load_file, save_file
from typer.testing import CliRunner

from scenerec.cli.main import app
from scenerec.data.dataset import Dataset
from scenerec.models import load_run
from scenerec.models.ease import EASE
from scenerec.models.runs import RunError, seal, sha256, verify_run
from scenerec.schema import C


def dataset(shift: int = 0, n_items: int = 30) -> Dataset:
    rng = np.random.default_rng(shift)
    rows = [
        (f"u{u}", f"i{(u * 7 + j * 3 + shift) % n_items}", "app" if j % 2 else "web", "click", j)
        for u in range(40)
        for j in range(int(rng.integers(3, 9)))
    ]
    cols = [C.USER_ID, C.ITEM_ID, C.SCENARIO, C.BEHAVIOR, C.TIMESTAMP]
    return Dataset(pl.DataFrame(rows, schema=cols, orient="row").unique(maintain_order=True))


@pytest.fixture()
def run(tmp_path: Path) -> Path:
    return EASE().fit(dataset()).save(tmp_path / "run")


@pytest.fixture()
def other_run(tmp_path: Path) -> Path:
    return EASE().fit(dataset(shift=5, n_items=25)).save(tmp_path / "other")


def reseal(run: Path) -> None:
    """Update the manifest's checksums as a careful tamperer would (shapes left as recorded)."""
    manifest = json.loads((run / "manifest.json").read_text())
    for name, meta in manifest["files"].items():
        meta["sha256"], meta["bytes"] = sha256(run / name), (run / name).stat().st_size
    (run / "manifest.json").write_text(json.dumps(manifest))


def rewrite_weights(run: Path, change: Callable[[np.ndarray], np.ndarray]) -> None:
    arrays = load_file(str(run / "model.safetensors"))
    save_file(
        {k: change(v) if k.startswith("B") else v for k, v in arrays.items()},
        str(run / "model.safetensors"),
    )


def truncate(run: Path, _other: Path) -> None:
    f = run / "model.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


def truncate_header(run: Path, _other: Path) -> None:
    f = run / "train_state.safetensors"
    f.write_bytes(f.read_bytes()[:20])


def wrong_shape(run: Path, _other: Path) -> None:
    rewrite_weights(run, lambda b: np.ascontiguousarray(b[:10, :10]))


def wrong_shape_resealed(run: Path, other: Path) -> None:
    wrong_shape(run, other)
    reseal(run)


def nan_weights(run: Path, _other: Path) -> None:
    rewrite_weights(run, lambda b: np.full_like(b, np.nan))


def nan_weights_resealed(run: Path, other: Path) -> None:
    nan_weights(run, other)
    reseal(run)


def flipped_byte(run: Path, _other: Path) -> None:
    f = run / "vocabularies.json"
    data = bytearray(f.read_bytes())
    data[-3] = ord("x") if data[-3] != ord("x") else ord("y")
    f.write_bytes(bytes(data))


def foreign_manifest(run: Path, other: Path) -> None:
    shutil.copy(other / "manifest.json", run / "manifest.json")


def foreign_weights(run: Path, other: Path) -> None:
    shutil.copy(other / "model.safetensors", run / "model.safetensors")


def foreign_vocabularies(run: Path, other: Path) -> None:
    shutil.copy(other / "vocabularies.json", run / "vocabularies.json")


def bad_json(run: Path, _other: Path) -> None:
    (run / "manifest.json").write_text('{"model": "ease", ')


def missing_file(run: Path, _other: Path) -> None:
    (run / "vocabularies.json").unlink()


def no_checksums(run: Path, _other: Path) -> None:
    manifest = json.loads((run / "manifest.json").read_text())
    del manifest["files"], manifest["arrays"]
    (run / "manifest.json").write_text(json.dumps(manifest))


def newer_version(run: Path, _other: Path) -> None:
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["scenerec_version"] = "99.0.0"
    (run / "manifest.json").write_text(json.dumps(manifest))


def not_a_run(run: Path, _other: Path) -> None:
    (run / "manifest.json").unlink()


CASES: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "truncated": (truncate, "truncated"),
    "truncated_header": (truncate_header, "not a safetensors file"),
    "wrong_shape": (wrong_shape, "wrong shape"),
    "wrong_shape_resealed": (wrong_shape_resealed, "wrong shape"),
    "nan": (nan_weights, "SHA-256"),
    "nan_resealed": (nan_weights_resealed, "NaN"),
    "edited": (flipped_byte, "SHA-256"),
    "foreign_manifest": (foreign_manifest, "another run"),
    "foreign_weights": (foreign_weights, "another run"),
    "foreign_vocabularies": (foreign_vocabularies, "another run"),
    "bad_json": (bad_json, "not valid JSON"),
    "missing_file": (missing_file, "missing vocabularies.json"),
    "no_checksums": (no_checksums, "no checksums"),
    "newer": (newer_version, "newer"),
    "not_a_run": (not_a_run, "not a run directory"),
}


def test_a_sealed_run_verifies_and_records_files_shapes_and_versions(run: Path) -> None:
    manifest = verify_run(run)
    assert {"model.safetensors", "train_state.safetensors", "vocabularies.json"} <= set(
        manifest["files"]
    )
    arrays = manifest["arrays"]["model.safetensors"]
    assert all(set(a) == {"dtype", "shape"} for a in arrays.values())
    assert manifest["scenerec_version"] and manifest["data_fingerprint"] and manifest["run_id"]
    assert load_run(run).recommend  # loads


@pytest.mark.parametrize("case", sorted(CASES))
def test_tampered_runs_are_refused_with_one_line(case: str, run: Path, other_run: Path) -> None:
    damage, words = CASES[case]
    damage(run, other_run)
    with pytest.raises(RunError) as err:
        load_run(run)
    msg = str(err.value)
    assert words in msg and "\n" not in msg and "Fix:" in msg, msg


@pytest.mark.parametrize("case", sorted(CASES))
def test_tampered_runs_exit_1_on_the_command_line(case: str, run: Path, other_run: Path) -> None:
    CASES[case][0](run, other_run)
    res = CliRunner().invoke(app, ["recommend", str(run), "--user", "u1", "--json"])
    assert res.exit_code == 1
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr


def test_reseal_after_adding_a_file_covers_it(run: Path) -> None:
    (run / "notes.txt").write_text("hello")
    seal(run, json.loads((run / "manifest.json").read_text()))
    assert "notes.txt" in verify_run(run)["files"]
    (run / "notes.txt").write_text("changed")
    with pytest.raises(RunError, match=r"notes\.txt"):
        verify_run(run)
