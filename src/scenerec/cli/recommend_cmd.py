"""``scenerec recommend``: top-k items for one user or ad-hoc history, or for many users at once
(``--users FILE`` / ``--all-users``) into a Parquet or CSV file, from a saved run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import polars as pl
import typer

from scenerec.cli._common import echo_json, err_console, handle_errors
from scenerec.cli.output import Col, OutputOpt, num, show
from scenerec.errors import SchemaError, UnknownEntityError
from scenerec.schema import C

if TYPE_CHECKING:
    from scenerec.models.base import BaseRecommender
    from scenerec.models.query import HistoryEvent


def _note(message: str) -> None:
    err_console.print(f"note: {message}", highlight=False, soft_wrap=True)


def _titles(run_dir: Path, item_ids: list[str]) -> dict[str, str]:
    """Titles from the run's catalog copy, when it has one."""
    from scenerec.models.runs import CATALOG

    f = run_dir / CATALOG
    if not f.exists() or not item_ids:
        return {}
    cat = pl.read_parquet(f)
    if C.TITLE not in cat.columns:
        return {}
    sel = cat.filter(pl.col(C.ITEM_ID).is_in(item_ids))
    return {r[0]: r[1] or "" for r in sel.select(C.ITEM_ID, C.TITLE).iter_rows()}


def _id_list(value: str | None, option: str) -> list[str] | None:
    """``a,b,c`` or ``@file`` (one id per line) -> ids."""
    if value is None:
        return None
    if value.startswith("@"):
        path = Path(value[1:])
        if not path.is_file():
            raise SchemaError("file not found", file=path, fix=f"check the path given to {option}")
        items = path.read_text(encoding="utf-8").split()
    else:
        items = value.split(",")
    return [x.strip() for x in items if x.strip()]


def _read_users(path: Path) -> list[str]:
    """User ids from a text file (one per line) or a table with a ``user_id`` column."""
    from scenerec.data.io import input_errors, scan_table

    if path.suffix.lower() in ("", ".txt", ".lst") and path.is_file():
        return [x.strip() for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    lf = scan_table(path)
    if C.USER_ID not in lf.collect_schema().names():
        raise SchemaError(
            f"no {C.USER_ID!r} column", file=path, column=C.USER_ID, fix="name the column user_id"
        )
    with input_errors(path):
        ids = lf.select(pl.col(C.USER_ID).cast(pl.String)).collect().to_series()
    return ids.drop_nulls().unique(maintain_order=True).to_list()


def _history(model: BaseRecommender[Any], history: str, scenario: str | None) -> list[HistoryEvent]:
    """``item[@scenario],...`` -> events; unknown items are reported, not silently dropped."""
    from scenerec.models import HistoryEvent

    tokens = [x.strip() for x in history.split(",") if x.strip()]
    events = []
    for pos, token in enumerate(tokens):
        item, _, scen = token.partition("@")
        events.append(HistoryEvent(item, scen or scenario, "click", pos))
    items = model.vocab("items")
    unknown = [e.item_id for e in events if items.get(e.item_id) is None]
    if unknown and len(unknown) == len(events):
        raise UnknownEntityError(
            "items", unknown, fix="the run has never seen any --history item: check the ids"
        )
    if unknown:
        _note(f"the run does not know --history item(s) {unknown}; they are left out")
    return events


def _check_k(n_returned: int, k: int, scenario: str | None) -> None:
    if n_returned < k:
        where = f"scenario {scenario!r}" if scenario else "the catalog"
        _note(
            f"only {n_returned} candidate item(s) left in {where} (after removing seen and "
            f"excluded items): returning {n_returned}, not {k}"
        )


def _batch(
    model: BaseRecommender[Any],
    users: list[str],
    *,
    scenario: str | None,
    k: int,
    candidates: list[str] | None,
    exclude: list[str] | None,
    fallback: bool,
) -> pl.DataFrame:
    """Long table user_id, rank, item_id, score for every user (vectorised over users)."""
    from scenerec.models import RecQuery

    vocab, items = model.vocab("users"), model.vocab("items")
    known = [u for u in users if vocab.get(u) is not None]
    unknown = [u for u in users if vocab.get(u) is None]
    if unknown and not fallback:
        raise UnknownEntityError(
            "users",
            unknown[:5] + (["..."] if len(unknown) > 5 else []),
            fix=f"{len(unknown)} user(s) are not in the run; pass --fallback for popular items",
        )
    cand = model.items_of_scenario(scenario)
    if candidates is not None:
        cand = np.array([items.index(i) for i in candidates], np.int64)
    if exclude:
        gone = [j for j in (items.get(i) for i in exclude) if j is not None]
        cand = cand[~np.isin(cand, np.array(gone, np.int64))]
    idx = np.array([vocab.index(u) for u in known], np.int64)
    seen = model.train_state.matrix(binary=True)
    top, scores = model.rank_users(idx, scenario=scenario, k=k, exclude=seen, items=cand)
    if unknown:  # everyone unknown gets the same fallback list: rank it once
        q = RecQuery(
            user_id=unknown[0],
            scenario=scenario,
            candidates=candidates,
            exclude=exclude,
            unknown_user="fallback",
        )
        ranked = model.recommend(q, k=k)
        pad = k - len(ranked)
        found = items.indices(pl.Series(ranked.item_ids, dtype=pl.String)).to_numpy()
        row_i = np.concatenate([found.astype(np.int64), np.full(pad, -1, np.int64)])
        row_s = np.concatenate([ranked.scores, np.full(pad, -np.inf, np.float32)])
        top = np.vstack([top, np.tile(row_i, (len(unknown), 1))])
        scores = np.vstack([scores, np.tile(row_s, (len(unknown), 1))])
    users_col = np.repeat(np.array([*known, *unknown], dtype=object), k)
    keep = top.ravel() >= 0
    return pl.DataFrame(
        {
            C.USER_ID: pl.Series(users_col[keep], dtype=pl.String),
            "rank": np.tile(np.arange(1, k + 1, dtype=np.int64), len(top))[keep],
            C.ITEM_ID: items.ids.gather(top.ravel()[keep]),
            "score": scores.ravel()[keep].astype(np.float32),
        }
    )


def _write_batch(
    table: pl.DataFrame, *, k: int, out: Path | None, inputs: list[Path | None]
) -> None:
    """Batch results to ``out`` (Parquet/CSV by suffix, atomically), or CSV on stdout."""
    from scenerec.data.io import guard_outputs, write_table

    short = table.group_by(C.USER_ID).len().filter(pl.col("len") < k).height
    if short:
        _note(f"{short} user(s) have fewer than {k} candidate items left: shorter lists")
    if out is None:
        show(table.rows(), [Col(c) for c in table.columns], output="csv")
        return
    guard_outputs(inputs, [out])
    write_table(table, out)
    users = table[C.USER_ID].n_unique()
    err_console.print(f"{users:,} users, {table.height:,} rows -> {out}", highlight=False)


def register(app: typer.Typer) -> None:
    @app.command("recommend")
    @handle_errors
    def recommend_cmd(
        run_dir: Annotated[Path, typer.Argument(help="a run directory from `scenerec train`")],
        user: Annotated[str | None, typer.Option("--user", "-u", help="a known user id")] = None,
        scenario: Annotated[
            str | None, typer.Option("--scenario", "-s", help="target scenario")
        ] = None,
        k: Annotated[int, typer.Option("-k", min=1, help="how many items")] = 10,
        history: Annotated[
            str | None,
            typer.Option(
                "--history",
                help="ad-hoc history: comma-separated item ids, each optionally item@scenario",
            ),
        ] = None,
        users_file: Annotated[
            Path | None,
            typer.Option(
                "--users", help="batch: users file (one id per line, or a user_id column)"
            ),
        ] = None,
        all_users: Annotated[
            bool, typer.Option("--all-users", help="batch: every user of the run")
        ] = False,
        out: Annotated[
            Path | None,
            typer.Option("--out", "-o", help="batch: write user_id, rank, item_id, score here"),
        ] = None,
        candidates: Annotated[
            str | None, typer.Option("--candidates", help="rank only these items: a,b,c or @FILE")
        ] = None,
        exclude: Annotated[
            str | None, typer.Option("--exclude", help="never return these items: a,b,c or @FILE")
        ] = None,
        fallback: Annotated[
            bool, typer.Option("--fallback", help="popular items for unknown users")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="print JSON (= -O json)")] = False,
        output: OutputOpt = "table",
    ) -> None:
        """Top-k items for a user (or an ad-hoc history) in a target scenario; or, with --users
        or --all-users, for many users at once into a Parquet/CSV file (one model load)."""
        from scenerec.models import RecQuery, load_run

        output = "json" if as_json else output
        batch = users_file is not None or all_users
        if sum((user is not None, history is not None, batch)) != 1:
            raise typer.BadParameter("give exactly one of --user, --history, --users, --all-users")
        if users_file is not None and all_users:
            raise typer.BadParameter("give --users or --all-users, not both")
        if out is not None and not batch:
            raise typer.BadParameter("--out writes batch results: use it with --users/--all-users")
        cand, excl = _id_list(candidates, "--candidates"), _id_list(exclude, "--exclude")
        model = load_run(run_dir)
        if batch:
            ids = (
                model.vocab("users").ids.to_list()
                if users_file is None
                else _read_users(users_file)
            )
            table = _batch(
                model, ids, scenario=scenario, k=k, candidates=cand, exclude=excl, fallback=fallback
            )
            _write_batch(table, k=k, out=out, inputs=[users_file, run_dir / "manifest.json"])
            return
        events = None if history is None else _history(model, history, scenario)
        query = RecQuery(
            user_id=user,
            history=events,
            scenario=scenario,
            candidates=cand,
            exclude=excl,
            unknown_user="fallback" if fallback else "raise",
        )
        ranked = model.recommend(query, k=k)
        _check_k(len(ranked), k, scenario)
        titles = _titles(run_dir, list(ranked.item_ids))
        if output == "json":
            echo_json(
                {
                    "items": list(ranked.item_ids),
                    "scores": [float(x) for x in ranked.scores],
                    "titles": [titles.get(i) for i in ranked.item_ids],
                    "fallback": ranked.fallback,
                }
            )
            return
        rows = [
            [i, item, titles.get(item), float(score)]
            for i, (item, score) in enumerate(zip(ranked.item_ids, ranked.scores, strict=True), 1)
        ]
        cols = [
            Col("#", numeric=True),
            Col("item"),
            Col("title", wrap=True),
            Col("score", num(4), numeric=True),
        ]
        who = user or "ad-hoc history"
        show(
            rows,
            cols,
            title=f"{model.name}: top {k} for {who} in {scenario or 'all'}",
            output=output,
            keys=2,
        )
        if ranked.fallback and output == "table":
            typer.echo("(popularity fallback: no history the model can use for this user)")
