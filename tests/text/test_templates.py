"""Item text templates: field order, labels, truncation, items without text."""

from __future__ import annotations

import polars as pl
import pytest

from scenerec.errors import DataWarning, SchemaError
from scenerec.schema import C
from scenerec.text import ItemTextTemplate, TemplateField, render_items


def _catalog() -> pl.DataFrame:
    return pl.DataFrame(
        {
            C.ITEM_ID: ["a", "b", "c", "d"],
            C.TITLE: ["Cast iron skillet.", None, "  ", "Green   tea"],
            C.CATEGORY: ["Kitchen > Cookware", "Grocery", None, None],
            C.BRAND: ["Lodge", None, None, None],
            C.DESCRIPTION: ["Pre-seasoned " + "very " * 200 + "heavy", None, None, None],
        }
    )


def test_fields_are_joined_in_order_with_labels() -> None:
    texts, has_text = render_items(_catalog())
    assert texts[0].startswith("Cast iron skillet. Category: Kitchen > Cookware. Brand: Lodge. ")
    assert texts[1] == "Category: Grocery"
    assert texts[3] == "Green tea"  # whitespace collapsed
    assert has_text.tolist() == [True, True, False, True]


def test_item_without_text_gets_no_fake_text() -> None:
    texts, has_text = render_items(_catalog())
    assert texts[2] == "" and not has_text[2]


def test_long_fields_are_cut_to_their_token_limit() -> None:
    texts, _ = render_items(_catalog())
    description = texts[0].split("Brand: Lodge. ")[1]
    assert len(description.split()) == 96
    tpl = ItemTextTemplate(max_tokens=5)
    assert render_items(_catalog(), tpl)[0][0] == "Cast iron skillet. Category: Kitchen"


def test_custom_template_and_fingerprint() -> None:
    tpl = ItemTextTemplate(
        fields=(TemplateField(column=C.BRAND, label="by "), TemplateField(column=C.TITLE)),
        separator=" | ",
    )
    texts, has_text = render_items(_catalog(), tpl)
    assert texts[0] == "by Lodge | Cast iron skillet"
    assert not has_text[1]  # b has neither brand nor title
    assert tpl.fingerprint != ItemTextTemplate().fingerprint
    assert tpl.fingerprint == ItemTextTemplate.from_yaml(tpl.to_yaml()).fingerprint


def test_catalog_without_any_template_column_warns() -> None:
    cat = pl.DataFrame({C.ITEM_ID: ["a"], "name": ["Kettle"]})
    with pytest.warns(DataWarning, match="none of the template's columns"):
        texts, has_text = render_items(cat)
    assert texts == [""] and not has_text.any()


def test_catalog_without_item_id_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="item_id"):
        render_items(pl.DataFrame({C.TITLE: ["x"]}))
