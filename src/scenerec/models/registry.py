"""Model names used in configs and run manifests -> classes. One place to add a model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scenerec.errors import ConfigError
from scenerec.models.base import BaseRecommender, read_manifest
from scenerec.models.popularity import Popularity

MODELS: dict[str, type[BaseRecommender[Any]]] = {
    Popularity.name: Popularity,
}


def model_class(name: str) -> type[BaseRecommender[Any]]:
    """The class registered under ``name``."""
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; choose one of {sorted(MODELS)}") from None


def load_run(path: str | Path) -> BaseRecommender[Any]:
    """Load any saved run directory, whatever its model."""
    manifest = read_manifest(Path(path))
    return model_class(manifest["model"]).load(path)
