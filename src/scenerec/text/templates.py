"""Item text from catalog fields: which fields, in which order, with which labels and limits.

An item's text is its non-empty fields joined in template order, e.g. ``"Cast iron skillet.
Category: Kitchen > Cookware. Brand: Lodge. Pre-seasoned, 12 inch..."``. Each field can be cut
to a number of tokens (whitespace-separated words; a word is at least one model token, so this
bounds the model tokens from below and keeps a long description from pushing the title out of
the model's window). Items whose fields are all empty get no text at all: they are flagged in
the ``has_text`` mask so that models fall back to id embeddings, instead of encoding a
placeholder that would put every such item at the same point of the space.

The template is part of the embedding fingerprint: changing it changes every stored vector.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import warnings
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import polars as pl
from pydantic import Field

from scenerec.config import FrozenConfig
from scenerec.errors import DataWarning, SchemaError
from scenerec.schema import C

logger = logging.getLogger(__name__)

_SPACE = re.compile(r"\s+")
_TRAILING = " .;,:|-"


class TemplateField(FrozenConfig):
    """One catalog column in an item text.

    Attributes:
        column: catalog column name (``title``, ``category``, ``brand``, ``description``...).
        label: written before the value, e.g. ``"Brand: "``.
        max_tokens: keep at most this many whitespace-separated words of the value.
    """

    column: str
    label: str = ""
    max_tokens: int | None = Field(default=None, gt=0)


class ItemTextTemplate(FrozenConfig):
    """How an item's catalog fields become one text.

    Attributes:
        fields: the fields, in order; missing columns and empty values are skipped.
        separator: placed between fields (trailing punctuation of a value is dropped first).
        max_tokens: cap on the whole text in words, applied after the per-field caps.
    """

    fields: tuple[TemplateField, ...] = (
        TemplateField(column=C.TITLE, max_tokens=48),
        TemplateField(column=C.CATEGORY, label="Category: ", max_tokens=24),
        TemplateField(column=C.BRAND, label="Brand: ", max_tokens=8),
        TemplateField(column=C.DESCRIPTION, max_tokens=96),
    )
    separator: str = ". "
    max_tokens: int | None = Field(default=None, gt=0)

    @property
    def fingerprint(self) -> str:
        """``tpl-<12 hex>``: a hash of the template's settings."""
        payload = json.dumps(self.to_dict(), sort_keys=True)
        return "tpl-" + hashlib.sha256(payload.encode()).hexdigest()[:12]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.column for f in self.fields)

    def render(self, values: Mapping[str, object]) -> str:
        """The text of one item from its field values (``""`` when every field is empty)."""
        parts: list[str] = []
        for f in self.fields:
            value = values.get(f.column)
            if value is None:
                continue
            text = _SPACE.sub(" ", str(value)).strip()
            if f.max_tokens is not None:
                text = " ".join(text.split(" ")[: f.max_tokens])
            text = text.rstrip(_TRAILING)
            if text:
                parts.append(f.label + text)
        out = self.separator.join(parts)
        if self.max_tokens is not None:
            out = " ".join(out.split(" ")[: self.max_tokens])
        return out


def render_items(
    catalog: pl.DataFrame, template: ItemTextTemplate | None = None
) -> tuple[list[str], npt.NDArray[np.bool_]]:
    """Item texts for every catalog row, in row order.

    Args:
        catalog: catalog table (e.g. ``Dataset.catalog``, aligned by ``item_idx``).
        template: the template; ``ItemTextTemplate()`` by default.

    Returns:
        ``(texts, has_text)``: ``n`` strings (``""`` for items without text) and a bool ``(n,)``
        mask, False where the item has no text and must fall back to its id embedding.
    """
    template = template or ItemTextTemplate()
    if C.ITEM_ID not in catalog.columns:
        raise SchemaError(f"catalog lacks column {C.ITEM_ID!r}", column=C.ITEM_ID)
    present = [c for c in dict.fromkeys(template.columns) if c in catalog.columns]
    absent = [c for c in template.columns if c not in catalog.columns]
    if absent:
        logger.debug("catalog has no column(s) %s; skipping them in item text", absent)
    if not present:
        warnings.warn(
            f"the catalog has none of the template's columns {list(template.columns)} (it has "
            f"{catalog.columns}); every item is flagged as having no text. Fix: map the catalog's "
            "text columns to title/category/brand/description or change the template",
            DataWarning,
            stacklevel=2,
        )
        return [""] * catalog.height, np.zeros(catalog.height, dtype=bool)
    cols = catalog.select(pl.col(c).cast(pl.String) for c in present)
    texts = [template.render(dict(zip(present, row, strict=True))) for row in cols.iter_rows()]
    has_text = np.fromiter((bool(t) for t in texts), dtype=bool, count=len(texts))
    return texts, has_text
