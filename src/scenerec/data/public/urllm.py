"""Amazon Art-Office as released with URLLM (Shen et al., arXiv:2406.03085, C2DSR format).

The release (``TingJShen/URLLM DG_Final``; see ``SOURCE.md`` beside the files) has two domains,
Arts, Crafts & Sewing (``"art"``) and Office Products (``"office"``), every user active in both:

* ``AO/item_listA_F.csv`` and ``AO/item_listO_AA_F.csv``: ``idBefore,item_title,idAfter,
  item_attribute``; ``idAfter`` is the global item id (Art ``0..18638``, Office from 18639).
* ``AO/{train,valid,test}_F2.txt``: full sequences, lines
  ``uid<TAB>last_pos<TAB>item|pos|pos<TAB>...``. Each user has **two lines** that share the same
  history (all elements with ``pos < last_pos``) and differ in their last element (the target,
  ``pos == last_pos``): normally one Art and one Office target (a few users have two Art ones).
* ``DG_src_dataset/{train,valid,test}data_new.txt``: the same sequences truncated to their last
  29 elements (``variant="truncated"``), as the origin C2DSR-style model reads them.
* ``AO/Dualuser_dict.json``: the Amazon reviewer id of each uid (list index = uid).

Mapping to scenerec:

* ``user_id`` = the uid (one id space across files; train 0-7999, test 8000-8999, valid
  9000-9576, so the split is user-disjoint); ``item_id`` = ``idAfter``; ``scenario`` from the
  id range; ``behavior`` = ``"rate"`` (each element is an Amazon review), no ``value``;
  ``timestamp`` = ``pos`` (order only; the release has no times).
* each user's events are the shared history **once** (sorted by ``pos``) followed by the
  targets of the user's lines, all targets with ``timestamp = last_pos``. Items can repeat
  within a history, so ``events`` has a few more rows than unique user-item pairs.
* catalog: every item of both lists (Office lists items that no sequence uses), ``title`` =
  ``item_title``, ``category`` = ``item_attribute``, with ``scenario``.
* users: ``user_id`` and ``reviewer_id`` when ``Dualuser_dict.json`` is present.

Predefined split, partitioning ``events`` exactly:

* ``"train"``: every event of the train users (histories and both targets), **plus** the
  histories of the valid and test users;
* ``"valid"`` / ``"test"``: the target events of the valid / test users, one row per line of the
  file (two per user), i.e. one evaluation instance per row.

The origin code ranks each target against 999 negatives sampled from the target's domain and
reports MRR/NDCG/HR per domain. **Caveat** (SOURCE.md): the cross-domain interleaving of the
training sequences looks synthetic (most users strictly alternate Art/Office), so cross-domain
transition patterns are not trustworthy; within-domain order probably is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final, Literal

import polars as pl

from scenerec.data.public._base import (
    LINE,
    SC,
    LoadedData,
    check_integers,
    read_lines,
    require_file,
    typed_events,
)
from scenerec.errors import SchemaError
from scenerec.schema import C

SCENARIOS: Final = ("art", "office")
BEHAVIOR: Final = "rate"
Variant = Literal["full", "truncated"]

CATALOG_FILES: Final = ("AO/item_listA_F.csv", "AO/item_listO_AA_F.csv")
SEQUENCE_FILES: Final[dict[str, dict[str, str]]] = {
    "full": {
        "train": "AO/train_F2.txt",
        "valid": "AO/valid_F2.txt",
        "test": "AO/test_F2.txt",
    },
    "truncated": {
        "train": "DG_src_dataset/traindata_new.txt",
        "valid": "DG_src_dataset/validdata_new.txt",
        "test": "DG_src_dataset/testdata_new.txt",
    },
}
USERS_FILE: Final = "AO/Dualuser_dict.json"

# Column names of the release's item lists.
_ID_AFTER: Final = "idAfter"
_ITEM_TITLE: Final = "item_title"
_ITEM_ATTRIBUTE: Final = "item_attribute"

_TOKENS: Final = "_tokens"
_LAST_POS: Final = "_last_pos"
_GIDX: Final = "_gidx"
_POS: Final = "_pos"
_POS2: Final = "_pos2"
_IS_TARGET: Final = "_is_target"
_HIST: Final = "_history"
_LINE_NO: Final = "_line"
_SPLIT: Final = "_split"


def _read_catalog(root: Path) -> tuple[pl.DataFrame, int]:
    """Catalog of both domains and the first Office id (the domain boundary)."""
    frames = []
    for rel in CATALOG_FILES:
        f = require_file(root / rel)
        try:
            df = pl.read_csv(f, infer_schema=False)
        except pl.exceptions.PolarsError as exc:
            raise SchemaError(f"cannot parse the item list ({exc})", file=f) from None
        missing = [c for c in (_ID_AFTER, _ITEM_TITLE, _ITEM_ATTRIBUTE) if c not in df.columns]
        if missing:
            raise SchemaError(
                f"item list lacks column(s) {missing}; found {df.columns}",
                file=f,
                column=missing[0],
                fix="expected idBefore,item_title,idAfter,item_attribute",
            )
        ids = check_integers(df.select(_ID_AFTER), [_ID_AFTER], file=f)[_ID_AFTER]
        frames.append(df.with_columns(ids.alias(_GIDX)))
    art, office = frames
    boundary = int(office[_GIDX].min())  # type: ignore[arg-type]
    if int(art[_GIDX].max()) >= boundary:  # type: ignore[arg-type]
        raise SchemaError(
            f"Art and Office item ids overlap (Office starts at {boundary})",
            file=root / CATALOG_FILES[0],
            column=_ID_AFTER,
        )
    catalog = pl.concat(frames).sort(_GIDX)
    if catalog[_GIDX].is_duplicated().any():
        raise SchemaError("duplicate idAfter in the item lists", file=root / CATALOG_FILES[1])
    return catalog, boundary


def _read_sequences(path: Path, split: str, n_ids: int) -> pl.DataFrame:
    """One row per element: uid, line number, global item id, pos, target flag."""
    lines = read_lines(path)
    parts = lines.with_columns(pl.col(LINE).str.split("\t"))
    short = parts.filter(pl.col(LINE).list.len() < 3)
    if short.height:
        raise SchemaError(
            "expected 'uid<TAB>last_pos<TAB>item|pos|pos...'",
            file=path,
            row=int(short[C.ROW][0]),
            fix="the file is truncated or not in the C2DSR format",
        )
    parts = parts.select(
        pl.col(C.ROW).alias(_LINE_NO),
        pl.col(LINE).list.get(0).alias(C.USER_ID),
        pl.col(LINE).list.get(1).cast(pl.Int64, strict=False).alias(_LAST_POS),
        pl.col(LINE).list.slice(2).alias(_TOKENS),
    )
    long = parts.explode(_TOKENS).with_columns(
        pl.col(_TOKENS).str.split_exact("|", 2).struct.rename_fields([_GIDX, _POS, _POS2])
    )
    long = long.unnest(_TOKENS).with_columns(
        pl.col(_GIDX, _POS).cast(pl.Int64, strict=False),
    )
    bad = (
        long[_LAST_POS].is_null()
        | long[_GIDX].is_null()
        | long[_POS].is_null()
        | (long[_GIDX] < 0)
        | (long[_GIDX] >= n_ids)
    )
    if bad.any():
        i = int(bad.arg_true()[0])
        raise SchemaError(
            f"malformed element: expected item|pos|pos with an item id in 0..{n_ids - 1}",
            file=path,
            row=int(long[_LINE_NO][i]),
            value=long.row(i, named=True),
            fix="the file is truncated, or the item lists do not match the sequences",
        )
    long = long.with_columns((pl.col(_POS) == pl.col(_LAST_POS)).alias(_IS_TARGET))
    n_targets = long.group_by(_LINE_NO).agg(pl.col(_IS_TARGET).sum().alias("n"))
    wrong = n_targets.filter(pl.col("n") != 1).sort(_LINE_NO)
    if wrong.height:
        raise SchemaError(
            "a line needs exactly one element with pos == last_pos (its target)",
            file=path,
            row=int(wrong[_LINE_NO][0]),
            fix="the file is not in the C2DSR format",
        )
    # The user's lines must share the history (all elements before the target).
    hist_key = (
        long.filter(~pl.col(_IS_TARGET))
        .sort(_LINE_NO, _POS)
        .group_by(_LINE_NO, C.USER_ID, maintain_order=True)
        .agg((pl.col(_GIDX).cast(pl.String) + "@" + pl.col(_POS).cast(pl.String)).str.join(","))
    )
    line_users = parts.select(_LINE_NO, C.USER_ID).join(
        hist_key, on=[_LINE_NO, C.USER_ID], how="left"
    )
    line_users = line_users.with_columns(pl.col(_GIDX).fill_null(""))
    differ = line_users.filter(pl.col(_GIDX).n_unique().over(C.USER_ID) > 1)
    if differ.height:
        raise SchemaError(
            "the lines of one user have different histories",
            file=path,
            row=int(differ[_LINE_NO][0]),
            value=differ[C.USER_ID][0],
            fix="each user's lines must share every element before the target",
        )
    first_line = parts.group_by(C.USER_ID).agg(pl.col(_LINE_NO).min())
    history = (
        long.filter(~pl.col(_IS_TARGET))
        .join(first_line, on=[C.USER_ID, _LINE_NO], how="semi")
        .sort(_LINE_NO, _POS)
    )
    targets = long.filter(pl.col(_IS_TARGET)).sort(_LINE_NO)
    # Order: users in file order; each user's history, then the targets of their lines.
    user_order = first_line.rename({_LINE_NO: "_first"})
    out = pl.concat([history, targets]).join(user_order, on=C.USER_ID)
    out = out.sort("_first", _IS_TARGET, _POS, _LINE_NO, maintain_order=True)
    return out.select(
        C.USER_ID,
        _GIDX,
        pl.col(_POS).alias(C.TIMESTAMP),
        _IS_TARGET,
        pl.lit(split).alias(_SPLIT),
    )


def load_art_office(
    path: str | Path,
    *,
    variant: Variant = "full",
    name: str = "art-office",
    scenarios: tuple[str, str] = SCENARIOS,
) -> LoadedData:
    """Read the URLLM Art-Office release (see the module docstring).

    Args:
        path: the release folder holding ``AO/`` (and ``DG_src_dataset/`` for the truncated
            variant).
        variant: ``"full"`` (``AO/*_F2.txt``) or ``"truncated"`` (last 29 elements per line).
        name: the data-set name.
        scenarios: names of the Art and the Office domain.

    Returns:
        ``LoadedData`` with all events, both item lists as the catalog, users with their
        reviewer ids, and the predefined train/valid/test split.

    Raises:
        SchemaError: a file is missing or malformed (names the file and line).
    """
    root = Path(path)
    if not (root / "AO").is_dir() and (root / "train_F2.txt").is_file():
        root = root.parent  # pointed at AO/ itself
    if variant not in SEQUENCE_FILES:
        raise SchemaError(
            f"unknown variant {variant!r}", fix=f"choose one of {list(SEQUENCE_FILES)}"
        )
    catalog_raw, boundary = _read_catalog(root)
    n_ids = int(catalog_raw[_GIDX].max()) + 1  # type: ignore[arg-type]
    scen_art, scen_office = scenarios
    scenario = (
        pl.when(pl.col(_GIDX) < boundary).then(pl.lit(scen_art)).otherwise(pl.lit(scen_office))
    )

    long = pl.concat(
        [
            _read_sequences(require_file(root / rel), split, n_ids)
            for split, rel in SEQUENCE_FILES[variant].items()
        ]
    )
    files = SEQUENCE_FILES[variant]
    seen: dict[str, str] = {}
    for split in files:
        split_users = set(long.filter(pl.col(_SPLIT) == split)[C.USER_ID].unique().to_list())
        clash = next((u for u in split_users if u in seen), None)
        if clash is not None:
            raise SchemaError(
                f"user {clash!r} appears in both {seen[clash]} and {split}; the splits must be "
                "user-disjoint",
                file=root / files[split],
            )
        seen.update(dict.fromkeys(split_users, split))
    events_all = long.with_columns(
        pl.col(_GIDX).cast(pl.String).alias(C.ITEM_ID),
        scenario.alias(C.SCENARIO),
        pl.lit(BEHAVIOR).alias(C.BEHAVIOR),
    )
    in_train = (pl.col(_SPLIT) == "train") | ~pl.col(_IS_TARGET)
    split_frames = {
        "train": typed_events(events_all.filter(in_train)),
        "valid": typed_events(events_all.filter((pl.col(_SPLIT) == "valid") & pl.col(_IS_TARGET))),
        "test": typed_events(events_all.filter((pl.col(_SPLIT) == "test") & pl.col(_IS_TARGET))),
    }
    catalog = catalog_raw.select(
        pl.col(_GIDX).cast(pl.String).alias(C.ITEM_ID),
        pl.col(_ITEM_TITLE).alias(C.TITLE),
        pl.col(_ITEM_ATTRIBUTE).alias(C.CATEGORY),
        scenario.alias(C.SCENARIO),
    )

    users = None
    user_file = root / USERS_FILE
    if user_file.is_file():
        reviewers = json.loads(user_file.read_text(encoding="utf-8"))
        if not isinstance(reviewers, list) or not all(isinstance(r, str) for r in reviewers):
            raise SchemaError("expected a JSON list of reviewer ids", file=user_file)
        users = pl.DataFrame(
            {
                C.USER_ID: [str(i) for i in range(len(reviewers))],
                SC.REVIEWER_ID: pl.Series(reviewers, dtype=pl.String),
            }
        )
    return LoadedData(
        events=typed_events(events_all),
        catalog=catalog,
        users=users,
        predefined_split=split_frames,
        name=name,
        info={
            "source": "URLLM release (TingJShen/URLLM DG_Final/AO)",
            "folder": str(root),
            "format": "urllm",
            "variant": variant,
            "domains": {"A": scen_art, "B": scen_office},
            "first_office_id": boundary,
            "timestamp": "pos from the files (order only); both targets at last_pos",
            "split": "train = train users + valid/test histories; valid/test = target events",
            "caveat": "cross-domain interleaving of training sequences looks synthetic",
        },
    )
