"""Model names used in configs and run manifests -> classes, and the model spec of configs.

One place to add a model (``MODELS``). Classes are imported on first use, so that the command
line does not pay for torch when it only needs the classic models. ``ModelSpec`` is one entry of
a model list (experiment YAML, benchmark configs) and ``build_model`` turns it into a model.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from pydantic import Field

from scenerec.config import FrozenConfig
from scenerec.errors import ConfigError
from scenerec.models.base import BaseRecommender, read_manifest
from scenerec.models.query import FitOptions
from scenerec.text.encoder import EncoderConfig

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
    "cross_scenario_ranker": "flagship:CrossScenarioRanker",
}

#: scenerec's own models; every other one is a baseline (reports test against the strongest).
OWN_MODELS: frozenset[str] = frozenset(
    {"fusion", "cross_scenario_transformer", "cross_scenario_ranker"}
)

#: The config field through which a model reads item text (the same name in every model).
ENCODER_FIELD = "encoder"


class ModelSpec(FrozenConfig):
    """One model of a model list.

    Attributes:
        name: registry name (``MODELS``).
        label: the row name in tables (default: ``name``).
        params: the model config as plain data (nested sections such as ``train`` allowed).
    """

    name: str
    label: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def display(self) -> str:
        return self.label or self.name


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


def build_model(spec: ModelSpec, *, encoder: EncoderConfig | None = None) -> BaseRecommender[Any]:
    """A new, unfitted model from a spec.

    Args:
        spec: name and params.
        encoder: the experiment-wide language model, used by models that read text unless the
            spec's params set their own ``encoder``.

    Raises:
        ConfigError: unknown name, or params the model's config rejects (naming the field).
    """
    cls = model_class(spec.name)
    params = dict(spec.params)
    if encoder is not None and ENCODER_FIELD in cls.config_class.model_fields:
        params.setdefault(ENCODER_FIELD, encoder.to_dict())
    return cls(cls.config_class.from_dict(params, source=f"models[{spec.display}]"))


def load_run(path: str | Path, *, options: FitOptions | None = None) -> BaseRecommender[Any]:
    """Load any saved run directory, whatever its model."""
    manifest = read_manifest(Path(path))
    return model_class(manifest["model"]).load(path, options=options)


__all__ = [
    "ENCODER_FIELD",
    "MODELS",
    "OWN_MODELS",
    "ModelSpec",
    "build_model",
    "load_run",
    "model_class",
]
