"""Writing safely: outputs never replace an input, and appear whole or not at all."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from scenerec.errors import SchemaError


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name the same file (also through a symlink, a hard link or ``..``)."""
    pa, pb = Path(a), Path(b)
    if pa.exists() and pb.exists():
        return os.path.samefile(pa, pb)
    return pa.resolve() == pb.resolve()


def guard_outputs(
    inputs: Iterable[str | Path | None], outputs: Iterable[str | Path | None]
) -> None:
    """Refuse outputs that would overwrite an input, or each other.

    Raises:
        SchemaError: naming the output and the input it would replace.
    """
    ins = [Path(p) for p in inputs if p is not None]
    outs = [Path(p) for p in outputs if p is not None]
    for out in outs:
        for inp in ins:
            if same_file(out, inp):
                raise SchemaError(
                    f"the output would overwrite the input {inp}",
                    file=out,
                    fix="write the output to another path; inputs are never replaced",
                )
    for i, a in enumerate(outs):
        for b in outs[i + 1 :]:
            if same_file(a, b):
                raise SchemaError(
                    f"two outputs name the same file ({a} and {b})",
                    file=a,
                    fix="give each output its own path",
                )


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed over ``path`` when the block ends
    without an error, removed when it fails (a crash mid-write never leaves half a file).

    The temporary file lives in its own hidden folder, removed as a whole on failure: a writer
    that opens its file late from a background thread (polars' streaming sink does) finds the
    folder gone and cannot leave a stray file behind.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    folder = p.with_name(f".{p.name}.{uuid.uuid4().hex[:8]}.tmp")
    folder.mkdir()
    try:
        yield folder / p.name
        os.replace(folder / p.name, p)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically (see ``atomic_path``)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write bytes atomically (see ``atomic_path``)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
