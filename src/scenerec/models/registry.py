"""Model names used in configs and run manifests -> classes. One place to add a model.

Classes are imported on first use, so that the command line does not pay for torch when it
only needs the classic models.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from scenerec.errors import ConfigError
from scenerec.models.base import BaseRecommender, read_manifest

#: registry name -> "module:Class" under scenerec.models
MODELS: dict[str, str] = {
    "popularity": "popularity:Popularity",
    "itemknn": "itemknn:ItemKNN",
    "ease": "ease:EASE",
    "als": "als:ALS",
    "bpr": "bpr:BPRMF",
    "sasrec": "sasrec:SASRec",
    "cmf": "cmf:CMF",
    "emcdr": "emcdr:EMCDR",
    "fusion": "fusion:ScenarioFusion",
    "cross_scenario_transformer": "transformer:CrossScenarioTransformer",
}


def model_class(name: str) -> type[BaseRecommender[Any]]:
    """The class registered under ``name``."""
    try:
        target = MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; choose one of {sorted(MODELS)}") from None
    module, cls_name = target.split(":")
    cls: type[BaseRecommender[Any]] = getattr(
        importlib.import_module(f"scenerec.models.{module}"), cls_name
    )
    return cls


def load_run(path: str | Path) -> BaseRecommender[Any]:
    """Load any saved run directory, whatever its model."""
    manifest = read_manifest(Path(path))
    return model_class(manifest["model"]).load(path)
