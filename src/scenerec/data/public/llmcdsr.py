"""Amazon Food-Kitchen as released with LLMCDSR (Xin et al., ACM TOIS 2025).

The release (``xhran2010/LLMCDSR data/food-kitchen``; see ``SOURCE.md`` beside the files) holds
ordered item sequences without timestamps or ratings:

* ``train_A.txt`` / ``train_B.txt``: users active only in domain A (Grocery & Gourmet Food) or
  only in B (Home & Kitchen); ``train_overlap.txt``: mixed A+B sequences of overlapping users;
  ``valid.txt`` / ``test.txt``: mixed sequences whose **last** item is the target. Lines are
  ``uid<TAB>i1,i2,...``; A items use ids ``0..nA-1`` and B items ``nA + local B index``
  (``num.txt`` gives ``nA``/``nB``: 8,661 / 27,637).
* ``item_set_{A,B}.pkl``: ``ASIN -> local index``; ``text_{A,B}.pkl``: ``ASIN -> title``. They
  are read with a builtins-only unpickler (:mod:`scenerec.data.public.restricted_pickle`).

Mapping to scenerec:

* ``item_id`` = the ASIN; ``scenario`` = ``"food"`` (A) or ``"kitchen"`` (B), from the id range.
* ``user_id`` = file prefix + ``":"`` + uid, because uids restart at 1 in every file:
  ``"A:12"`` (train_A), ``"B:7"`` (train_B), ``"O:3"`` (train_overlap), ``"valid:5"``,
  ``"test:9"``. Valid and test users therefore never match a training user (user-disjoint).
* ``timestamp`` = the position in the user's sequence, ``0..len-1`` (order only; no times).
* ``behavior`` = ``"rate"`` (each item is an Amazon review); no ``value`` (ratings not released).
* catalog: all nA + nB items (every one has a title), with ``scenario``; the ``to_dataset()``
  vocabulary therefore covers items seen only in text.

Predefined split (``LoadedData.predefined_split``), partitioning ``events`` exactly:

* ``"train"``: every event of train_A, train_B and train_overlap, **plus** each valid and test
  sequence **without its last item** (the history a model sees for those users);
* ``"valid"``: the last item of each valid sequence, one row per valid user (960);
* ``"test"``: the last item of each test sequence, one row per test user (937).

The origin code ranks each target against 999 negatives sampled from the target's domain and
reports HR/NDCG per domain; that protocol belongs to ``scenerec.eval``.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Final

import polars as pl

from scenerec.data.public._base import LINE, LoadedData, read_lines, require_file, typed_events
from scenerec.data.public.restricted_pickle import load_builtin_pickle
from scenerec.errors import DataWarning, SchemaError
from scenerec.schema import C

SCENARIOS: Final = ("food", "kitchen")
BEHAVIOR: Final = "rate"

# (file, user-id prefix); order is the order of ``events``.
SEQUENCE_FILES: Final = (
    ("train_A.txt", "A"),
    ("train_B.txt", "B"),
    ("train_overlap.txt", "O"),
    ("valid.txt", "valid"),
    ("test.txt", "test"),
)
_EVAL_PREFIXES: Final = ("valid", "test")
_OPTIONAL_PREFIXES: Final = ("A", "B")  # the single-domain users' files

logger = logging.getLogger(__name__)

_GIDX: Final = "_global_idx"
_POS: Final = "_pos"
_LAST: Final = "_is_last"
_PREFIX: Final = "_prefix"


def _warn(msg: str) -> None:
    warnings.warn(msg, DataWarning, stacklevel=3)
    logger.warning(msg)


def _read_counts(folder: Path) -> tuple[int, int]:
    f = require_file(folder / "num.txt")
    parts = f.read_text(encoding="utf-8").split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise SchemaError(
            "expected two integers (number of A items, number of B items)",
            file=f,
            value=parts,
            fix="restore num.txt from the release",
        )
    return int(parts[0]), int(parts[1])


def _item_map(folder: Path, domain: str, n: int, offset: int) -> pl.DataFrame:
    """ASIN and title of every item of one domain, by global id ``offset + local index``.

    A missing ``text_<domain>.pkl`` (some releases ship only one domain's titles) leaves that
    domain's items without text, with a warning: models fall back to their ids.
    """
    set_file = folder / f"item_set_{domain}.pkl"
    text_file = folder / f"text_{domain}.pkl"
    index = load_builtin_pickle(set_file)
    texts: object = {}
    if text_file.is_file():
        texts = load_builtin_pickle(text_file)
    else:
        _warn(f"{text_file} is missing: the {n:,} items of domain {domain} have no text")
    if not isinstance(index, dict) or not all(
        isinstance(k, str) and isinstance(v, int) for k, v in index.items()
    ):
        raise SchemaError("expected a dict ASIN (str) -> local index (int)", file=set_file)
    if not isinstance(texts, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in texts.items()
    ):
        raise SchemaError("expected a dict ASIN (str) -> title (str)", file=text_file)
    if sorted(index.values()) != list(range(n)):
        raise SchemaError(
            f"local indices are not exactly 0..{n - 1} (num.txt says {n} items)",
            file=set_file,
            fix="item_set and num.txt must come from the same release",
        )
    df = pl.DataFrame(
        {
            C.ITEM_ID: pl.Series(list(index.keys()), dtype=pl.String),
            _GIDX: pl.Series(list(index.values()), dtype=pl.Int64) + offset,
        }
    )
    titles = pl.DataFrame(
        {
            C.ITEM_ID: pl.Series(list(texts.keys()), dtype=pl.String),
            C.TITLE: pl.Series(list(texts.values()), dtype=pl.String),
        }
    )
    # Left join: an item without text keeps a null title instead of vanishing.
    return df.join(titles, on=C.ITEM_ID, how="left").sort(_GIDX)


def _read_sequences(path: Path, prefix: str, n_items: int) -> pl.DataFrame:
    """One row per (line, position): ``user_id``, global item id, position, last-flag."""
    lines = read_lines(path)
    parts = lines.with_columns(pl.col(LINE).str.split_exact("\t", 1)).unnest(LINE)
    uid, seq = parts.columns[-2], parts.columns[-1]
    bad = parts.filter(pl.col(seq).is_null() | (pl.col(seq) == ""))
    if bad.height:
        raise SchemaError(
            "expected 'uid<TAB>i1,i2,...'",
            file=path,
            row=int(bad[C.ROW][0]),
            value=bad[uid][0],
            fix="the file is truncated or not in the LLMCDSR format",
        )
    dup = parts.filter(pl.col(uid).is_duplicated())
    if dup.height:
        raise SchemaError(
            "user id appears on more than one line",
            file=path,
            row=int(dup[C.ROW][0]),
            value=dup[uid][0],
            fix="each line must be one user's whole sequence",
        )
    long = (
        parts.with_columns(pl.col(seq).str.split(","))
        .with_columns(pl.int_ranges(0, pl.col(seq).list.len()).alias(_POS))
        .explode([seq, _POS])
    )
    gidx = long[seq].str.strip_chars().cast(pl.Int64, strict=False)
    bad_mask = gidx.is_null() | (gidx < 0) | (gidx >= n_items)
    if bad_mask.any():
        i = int(bad_mask.arg_true()[0])
        raise SchemaError(
            f"item id is not an integer in 0..{n_items - 1}",
            file=path,
            row=int(long[C.ROW][i]),
            value=long[seq][i],
            fix="num.txt and the sequence files must come from the same release",
        )
    return long.select(
        (pl.lit(prefix + ":") + pl.col(uid)).alias(C.USER_ID),
        gidx.alias(_GIDX),
        pl.col(_POS).cast(pl.Int64).alias(C.TIMESTAMP),
        (pl.col(_POS) == pl.col(_POS).max().over(C.ROW)).alias(_LAST),
        pl.lit(prefix).alias(_PREFIX),
    )


def load_food_kitchen(
    path: str | Path,
    *,
    name: str = "food-kitchen",
    scenarios: tuple[str, str] = SCENARIOS,
) -> LoadedData:
    """Read the LLMCDSR Food-Kitchen release (see the module docstring).

    Args:
        path: the folder with ``num.txt``, the five sequence files and the four pickles.
        name: the data-set name.
        scenarios: names of domain A and domain B.

    Returns:
        ``LoadedData`` with all events, a catalog of all items of both domains and the
        predefined train/valid/test split.

    Raises:
        SchemaError: a file is missing, malformed, or a pickle would run code.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise SchemaError("folder not found", file=folder, fix="point to the release folder")
    n_a, n_b = _read_counts(folder)
    items = pl.concat([_item_map(folder, "A", n_a, 0), _item_map(folder, "B", n_b, n_a)])
    if items[C.ITEM_ID].is_duplicated().any():
        asin = items.filter(pl.col(C.ITEM_ID).is_duplicated())[C.ITEM_ID][0]
        raise SchemaError(
            "an ASIN is listed in both domains; item ids would collide",
            file=folder / "item_set_B.pkl",
            value=asin,
        )
    asins = items[C.ITEM_ID]
    scen_a, scen_b = scenarios

    frames = []
    for fname, prefix in SEQUENCE_FILES:
        if prefix in _OPTIONAL_PREFIXES and not (folder / fname).is_file():
            # Single-domain users are extra training data; a release may lack them.
            _warn(f"{folder / fname} is missing: no users active only in that domain")
            continue
        frames.append(_read_sequences(folder / fname, prefix, n_a + n_b))
    long = pl.concat(frames)
    events_all = long.with_columns(
        asins.gather(long[_GIDX]).alias(C.ITEM_ID),
        pl.when(pl.col(_GIDX) < n_a)
        .then(pl.lit(scen_a))
        .otherwise(pl.lit(scen_b))
        .alias(C.SCENARIO),
        pl.lit(BEHAVIOR).alias(C.BEHAVIOR),
    )
    is_eval = pl.col(_PREFIX).is_in(list(_EVAL_PREFIXES))
    train = events_all.filter(~is_eval | ~pl.col(_LAST))
    split = {
        "train": typed_events(train),
        "valid": typed_events(events_all.filter((pl.col(_PREFIX) == "valid") & pl.col(_LAST))),
        "test": typed_events(events_all.filter((pl.col(_PREFIX) == "test") & pl.col(_LAST))),
    }
    catalog = items.select(
        C.ITEM_ID,
        C.TITLE,
        pl.when(pl.col(_GIDX) < n_a)
        .then(pl.lit(scen_a))
        .otherwise(pl.lit(scen_b))
        .alias(C.SCENARIO),
    )
    return LoadedData(
        events=typed_events(events_all),
        catalog=catalog,
        users=None,
        predefined_split=split,
        name=name,
        info={
            "source": "LLMCDSR release (xhran2010/LLMCDSR data/food-kitchen)",
            "folder": str(folder),
            "format": "llmcdsr",
            "domains": {"A": scen_a, "B": scen_b},
            "items_per_domain": {scen_a: n_a, scen_b: n_b},
            "user_id": "file prefix + ':' + uid (A, B, O, valid, test); uids restart per file",
            "timestamp": "position in the sequence (0..len-1); the release has no times",
            "split": "train = train files + valid/test histories; valid/test = last items",
        },
    )
