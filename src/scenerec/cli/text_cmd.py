"""``scenerec encode`` and ``scenerec similar-items``: item text embeddings from the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import polars as pl
import typer

from scenerec.cli._common import console, handle_errors, parse_mapping, unescape_sep
from scenerec.cli.output import Col, OutputOpt, num, show
from scenerec.config import Settings
from scenerec.data.io import guard_outputs, read_catalog
from scenerec.errors import ConfigError
from scenerec.schema import C
from scenerec.text.backends.hashing import HashingEncoder
from scenerec.text.cache import CachedEncoder
from scenerec.text.embeddings import ItemEmbeddings, encode_items
from scenerec.text.encoder import EncoderConfig, TextEncoder, make_encoder
from scenerec.text.templates import ItemTextTemplate, render_items

app = typer.Typer(help="Encode item text with a language model.", no_args_is_help=True)

BackendOpt = Annotated[
    str, typer.Option("--backend", "-b", help="sentence, onnx or hashing (no language model)")
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model", "-m", help="Hugging Face name or local folder (default all-MiniLM-L6-v2)"
    ),
]
BatchOpt = Annotated[int | None, typer.Option("--batch-size", help="texts per forward pass")]
MaxTokOpt = Annotated[int | None, typer.Option("--max-tokens", help="truncate texts to N tokens")]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", help="CPU threads (default: all)")]
QuantOpt = Annotated[bool, typer.Option("--quantize", help="onnx: int8 weights (faster, lossy)")]
CacheDirOpt = Annotated[
    Path | None,
    typer.Option("--cache-dir", help="embedding cache folder (default $SCENEREC_CACHE_DIR)"),
]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="do not read or write the cache")]
FieldsOpt = Annotated[
    str | None,
    typer.Option("--fields", help="catalog columns in the item text, comma-separated"),
]
FormatOpt = Annotated[str | None, typer.Option("--format", "-f", help="csv, tsv, parquet, jsonl")]
MapOpt = Annotated[
    list[str] | None, typer.Option("--map", help="rename a catalog column: THEIRS=OURS")
]
SepOpt = Annotated[str | None, typer.Option("--sep", help="CSV field separator (\\t for tab)")]


def _template(fields: str | None) -> ItemTextTemplate:
    if not fields:
        return ItemTextTemplate()
    default = {f.column: f for f in ItemTextTemplate().fields}
    from scenerec.text.templates import TemplateField

    chosen = [c.strip() for c in fields.split(",") if c.strip()]
    return ItemTextTemplate(fields=tuple(default.get(c, TemplateField(column=c)) for c in chosen))


def _build(
    catalog: pl.DataFrame,
    template: ItemTextTemplate,
    *,
    backend: str,
    model: str | None,
    batch_size: int | None,
    max_tokens: int | None,
    threads: int | None,
    quantize: bool,
    cache_dir: Path | None,
    no_cache: bool,
) -> TextEncoder:
    data: dict[str, Any] = {"backend": backend, "model": model, "quantize": quantize}
    if batch_size is not None:
        data["batch_size"] = batch_size
    if max_tokens is not None:
        data["max_tokens"] = max_tokens
    if threads is not None:
        data["threads"] = threads
    config = EncoderConfig.from_dict(data, source="command line")
    settings = Settings.from_env()
    if cache_dir is not None:
        settings = settings.model_copy(update={"cache_dir": cache_dir.expanduser()})
    encoder = make_encoder(config, settings=settings, cache=not no_cache)
    inner = encoder.inner if isinstance(encoder, CachedEncoder) else encoder
    if isinstance(inner, HashingEncoder):
        # TF-IDF weights come from the catalog itself, so that `encode` and `similar-items`
        # on the same catalog give the same vectors (and the same cache fingerprint).
        texts, has_text = render_items(catalog, template)
        inner.fit([t for t, ok in zip(texts, has_text, strict=True) if ok] or [""])
    return encoder


def _read(
    catalog: Path, fmt: str | None, mapping: list[str] | None, sep: str | None
) -> pl.DataFrame:
    return read_catalog(
        catalog, format=fmt, mapping=parse_mapping(mapping, "--map"), separator=unescape_sep(sep)
    )


@app.command("encode")
@handle_errors
def encode_cmd(
    catalog: Annotated[Path, typer.Argument(help="item catalog (item_id, title, ...)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="output Parquet file")],
    backend: BackendOpt = "sentence",
    model: ModelOpt = None,
    batch_size: BatchOpt = None,
    max_tokens: MaxTokOpt = None,
    threads: ThreadsOpt = None,
    quantize: QuantOpt = False,
    fields: FieldsOpt = None,
    cache_dir: CacheDirOpt = None,
    no_cache: NoCacheOpt = False,
    fmt: FormatOpt = None,
    mapping: MapOpt = None,
    sep: SepOpt = None,
) -> None:
    """Encode every catalog item's text into EMBEDDINGS.parquet (item_id, has_text, embedding).

    Items without any text get has_text=false and a zero vector (models use their id instead).
    """
    guard_outputs([catalog], [out])
    table = _read(catalog, fmt, mapping, sep)
    template = _template(fields)
    encoder = _build(
        table,
        template,
        backend=backend,
        model=model,
        batch_size=batch_size,
        max_tokens=max_tokens,
        threads=threads,
        quantize=quantize,
        cache_dir=cache_dir,
        no_cache=no_cache,
    )
    emb = encode_items(table, encoder, template)
    emb.save(out)
    cached = ""
    if isinstance(encoder, CachedEncoder):
        cached = f", {encoder.last_hits} from cache"
    console.print(
        f"encoded {int(emb.has_text.sum())} of {len(emb.item_ids)} items "
        f"({len(emb.item_ids) - int(emb.has_text.sum())} without text{cached}) "
        f"-> {out} [dim]({emb.dim}-d, {emb.fingerprint})[/]",
        highlight=False,
    )


def _non_blank(value: str) -> str:
    # Checked while parsing, so that a blank query is a usage error (exit 2).
    if not value.strip():
        raise typer.BadParameter("the query is empty")
    return value


@app.command("similar-items")
@handle_errors
def similar_items_cmd(
    catalog: Annotated[Path, typer.Argument(help="item catalog (item_id, title, ...)")],
    query: Annotated[str, typer.Argument(help="free text to search for", callback=_non_blank)],
    k: Annotated[int, typer.Option("-k", "--top", min=1, help="how many items")] = 10,
    backend: BackendOpt = "sentence",
    model: ModelOpt = None,
    batch_size: BatchOpt = None,
    max_tokens: MaxTokOpt = None,
    threads: ThreadsOpt = None,
    quantize: QuantOpt = False,
    fields: FieldsOpt = None,
    cache_dir: CacheDirOpt = None,
    no_cache: NoCacheOpt = False,
    fmt: FormatOpt = None,
    mapping: MapOpt = None,
    sep: SepOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON (= -O json)")] = False,
    output: OutputOpt = "table",
) -> None:
    """Semantic search over the catalog: the K items whose text is closest to QUERY.

    Useful to inspect what the model understood of the catalog.
    """
    table = _read(catalog, fmt, mapping, sep)
    template = _template(fields)
    encoder = _build(
        table,
        template,
        backend=backend,
        model=model,
        batch_size=batch_size,
        max_tokens=max_tokens,
        threads=threads,
        quantize=quantize,
        cache_dir=cache_dir,
        no_cache=no_cache,
    )
    emb: ItemEmbeddings = encode_items(table, encoder, template)
    if not emb.has_text.any():
        raise ConfigError(f"{catalog}: no item has text to search (columns {table.columns})")
    q = encoder.encode([query.strip()], kind="query")[0]
    scores = np.where(emb.has_text, emb.vectors @ q, -np.inf)
    top = np.argsort(-scores, kind="stable")[: min(k, int(emb.has_text.sum()))]
    texts, _ = render_items(table, template)
    rows = [[r + 1, emb.item_ids[i], float(scores[i]), texts[i]] for r, i in enumerate(top)]
    cols = [Col("rank", numeric=True), Col(C.ITEM_ID), Col("score", num(3), numeric=True)]
    title = f"items closest to {query.strip()!r} ({backend})"
    show(rows, [*cols, Col("text", wrap=True)], title=title, output="json" if as_json else output)
