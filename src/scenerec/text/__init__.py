"""Language-model features: text encoders, the embedding cache, item/query/user text vectors.

Quick start::

    from scenerec.text import EncoderConfig, make_encoder, encode_items

    encoder = make_encoder(EncoderConfig(backend="onnx"))  # cached on disk by default
    items = encode_items(dataset, encoder)                 # zero rows where has_text is False
"""

from __future__ import annotations

from scenerec.text.cache import CachedEncoder, EmbeddingCache, text_keys
from scenerec.text.embeddings import (
    ItemEmbeddings,
    QueryEmbeddings,
    encode_items,
    encode_queries,
    search_queries,
)
from scenerec.text.encoder import (
    DEFAULT_MODEL,
    EncoderConfig,
    HashingOptions,
    TextEncoder,
    TextKind,
    available_backends,
    make_encoder,
    register_backend,
)
from scenerec.text.templates import ItemTextTemplate, TemplateField, render_items
from scenerec.text.users import (
    ALL_SCENARIOS,
    ProfileTextConfig,
    render_profiles,
    user_interest_vectors,
    user_profile_vectors,
)

__all__ = [
    "ALL_SCENARIOS",
    "DEFAULT_MODEL",
    "CachedEncoder",
    "EmbeddingCache",
    "EncoderConfig",
    "HashingOptions",
    "ItemEmbeddings",
    "ItemTextTemplate",
    "ProfileTextConfig",
    "QueryEmbeddings",
    "TemplateField",
    "TextEncoder",
    "TextKind",
    "available_backends",
    "encode_items",
    "encode_queries",
    "make_encoder",
    "register_backend",
    "render_items",
    "render_profiles",
    "search_queries",
    "text_keys",
    "user_interest_vectors",
    "user_profile_vectors",
]
