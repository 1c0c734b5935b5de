"""Run directories: sealed by their manifest when saved, verified before anything is loaded.

``seal`` adds to a run's ``manifest.json`` the SHA-256 and size of every file in the directory,
the shape and dtype of every array of every safetensors file, a run id, the library version
and where it ran (``scenerec.provenance``), and writes the manifest atomically (last, so a save
that crashed leaves no valid run). ``verify_run`` checks all of it before a byte of the run is
used, and refuses with one line naming the file and what is wrong:

* not a run / bad JSON: no ``manifest.json``, or one that is not a JSON object with checksums;
* foreign: the files are not the ones the manifest lists (another run's manifest or files);
* wrong shape: an array's shape or dtype differs from the manifest's;
* truncated or tampered: a size or a SHA-256 differs;
* non-finite: a floating-point array holds NaN or infinity (a diverged fit, or tampering);
* newer: written by a later scenerec, or another schema version.
"""

from __future__ import annotations

import hashlib
import json
import struct
import uuid
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl

from scenerec import __version__
from scenerec.data.io import write_table, write_text_atomic
from scenerec.errors import ConfigError
from scenerec.provenance import package_versions
from scenerec.schema import SCHEMA_VERSION

MANIFEST: Final = "manifest.json"
CATALOG: Final = "catalog.parquet"
_FIX: Final = "retrain, or restore the run directory from its original copy"
# A safetensors header larger than this is not a header (the format caps it at 100 MB).
_MAX_HEADER: Final = 100_000_000


class RunError(ConfigError):
    """A run directory that cannot be trusted; the message names the file and the fix."""


def _fail(path: Path, problem: str, fix: str = _FIX) -> RunError:
    return RunError(f"{path}: {problem}. Fix: {fix}")


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tensor_header(path: Path) -> dict[str, dict[str, Any]]:
    """``{array: {"dtype", "shape"}}`` from a safetensors header, without reading the data.

    Raises:
        RunError: the file does not start with a safetensors header.
    """
    try:
        with path.open("rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > _MAX_HEADER:
                raise ValueError(n)
            header = json.loads(f.read(n))
    except (struct.error, ValueError, UnicodeDecodeError) as exc:
        raise _fail(path, f"not a safetensors file ({type(exc).__name__}); truncated?") from None
    return {
        k: {"dtype": v["dtype"], "shape": list(v["shape"])}
        for k, v in header.items()
        if k != "__metadata__"
    }


def _run_files(path: Path) -> list[Path]:
    return sorted(
        f
        for f in path.rglob("*")
        if f.is_file() and f.name != MANIFEST and not f.name.startswith(".")
    )


def seal(path: str | Path, manifest: dict[str, Any]) -> Path:
    """Record checksums, sizes, array shapes and dtypes, a run id and the library version in
    ``manifest`` and write it as ``manifest.json`` (atomically). Returns the run directory."""
    p = Path(path)
    files, arrays = {}, {}
    for f in _run_files(p):
        name = f.relative_to(p).as_posix()
        files[name] = {"sha256": sha256(f), "bytes": f.stat().st_size}
        if f.suffix == ".safetensors":
            arrays[name] = tensor_header(f)
    sealed = {
        **manifest,
        "run_id": uuid.uuid4().hex,
        "scenerec_version": __version__,
        "files": files,
        "arrays": arrays,
    }
    sealed.setdefault("versions", package_versions())
    write_text_atomic(p / MANIFEST, json.dumps(sealed, indent=2, default=str))
    return p


def save_catalog(path: str | Path, catalog: pl.DataFrame) -> Path:
    """Add the catalog (titles for recommendations) to a saved run and re-seal it."""
    p = Path(path)
    write_table(catalog.drop([c for c in ("item_idx",) if c in catalog.columns]), p / CATALOG)
    return seal(p, read_manifest(p))


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of a run directory, checked for form and version (not the files).

    Raises:
        RunError: no manifest, bad JSON, no checksums, another schema version or a newer
            scenerec (one line naming the run and the fix).
    """
    p = Path(path)
    f = p / MANIFEST
    if not f.is_file():
        raise _fail(
            p, f"not a run directory (no {MANIFEST})", "pass a folder written by `scenerec train`"
        )
    try:
        manifest = json.loads(f.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _fail(f, f"not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or "model" not in manifest:
        raise _fail(f, "not a scenerec manifest (no 'model')")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise _fail(
            p,
            f"schema version {manifest.get('schema_version')} != {SCHEMA_VERSION}",
            "retrain with this scenerec",
        )
    if not isinstance(manifest.get("files"), dict) or not isinstance(manifest.get("arrays"), dict):
        raise _fail(f, "has no checksums (written by an older scenerec, or edited)")
    written = str(manifest.get("scenerec_version", "0"))
    if _version(written) > _version(__version__):
        raise _fail(
            p, f"written by scenerec {written}, newer than this {__version__}", "upgrade scenerec"
        )
    return manifest


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def _check_arrays(f: Path, expected: dict[str, Any]) -> None:
    found = tensor_header(f)
    if set(found) != set(expected):
        raise _fail(f, f"holds arrays {sorted(found)}, the manifest lists {sorted(expected)}")
    for name, want in expected.items():
        got = found[name]
        if got != want:
            raise _fail(
                f,
                f"array {name!r} is {got['dtype']} {tuple(got['shape'])}, the manifest says "
                f"{want['dtype']} {tuple(want['shape'])} (wrong shape: edited or from another run)",
            )


def _check_finite(f: Path) -> None:
    from safetensors.numpy import load_file

    for name, arr in load_file(str(f)).items():
        if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
            bad = int((~np.isfinite(arr)).sum())
            raise _fail(
                f,
                f"array {name!r} holds {bad} NaN or infinite value(s)",
                "retrain (a fit that diverged saves no usable weights)",
            )


def verify_run(path: str | Path) -> dict[str, Any]:
    """Check a run directory before loading it (see the module docstring); returns its
    manifest.

    Raises:
        RunError: one line naming the file and what is wrong with it.
    """
    p = Path(path)
    manifest = read_manifest(p)
    files: dict[str, dict[str, Any]] = manifest["files"]
    missing = [name for name in files if not (p / name).is_file()]
    if missing:
        raise _fail(p, f"missing {', '.join(missing)} (the run is incomplete)")
    mismatched = [name for name, meta in files.items() if sha256(p / name) != meta.get("sha256")]
    if mismatched and len(mismatched) == len(files) > 1:
        raise _fail(
            p,
            "none of its files match manifest.json: the manifest or the files come from "
            "another run",
        )
    for name, expected in manifest["arrays"].items():
        _check_arrays(p / name, expected)
    for name in mismatched:
        size, want = (p / name).stat().st_size, files[name].get("bytes")
        if size != want:
            raise _fail(
                p / name,
                f"is {size:,} bytes, the manifest says {want:,}: truncated, or replaced by "
                "another run's file",
            )
        raise _fail(
            p / name,
            "does not match the manifest (SHA-256 differs): changed after the run was saved, "
            "or copied from another run",
        )
    for name in manifest["arrays"]:
        _check_finite(p / name)
    return manifest


__all__ = [
    "CATALOG",
    "MANIFEST",
    "RunError",
    "read_manifest",
    "save_catalog",
    "seal",
    "sha256",
    "tensor_header",
    "verify_run",
]
