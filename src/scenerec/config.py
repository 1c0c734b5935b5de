"""Configuration: frozen pydantic models for components, and runtime settings.

One config class per component (``frozen=True``, ``extra="forbid"``), each round-tripping to
YAML and JSON. Runtime settings (cache directory, thread count) come from ``SCENEREC_*``
environment variables.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from scenerec.errors import ConfigError


class FrozenConfig(BaseModel):
    """Base of every config: immutable, unknown keys rejected, YAML/JSON round-trip."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON types only)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str | None = None) -> Self:
        """Validate plain data; errors name the field and the source.

        A section given as a mapping (``train: {epochs: 4}``) overrides only the fields it
        names: the others keep this config's default for the section (a model's own training
        defaults), not the section class's generic ones.
        """
        try:
            return cls.model_validate(cls._with_section_defaults(data))
        except ValidationError as exc:
            raise ConfigError(_describe(exc, cls.__name__, source)) from None

    @classmethod
    def _with_section_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, value in data.items():
            field = cls.model_fields.get(name)
            if field is None or not isinstance(value, dict) or field.is_required():
                continue
            default = field.get_default(call_default_factory=True)
            if isinstance(default, FrozenConfig):
                out[name] = merge_params(default.to_dict(), value)
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str, *, source: str | None = None) -> Self:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source or 'config'}: not valid YAML: {exc}") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{source or 'config'}: expected a mapping at the top level")
        return cls.from_dict(data, source=source)

    @classmethod
    def from_file(cls, path: str | Path) -> Self:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"{p}: config file not found")
        return cls.from_yaml(p.read_text(encoding="utf-8"), source=str(p))


def merge_params(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``override`` (neither is changed): nested mappings merge, and a
    dotted key ``a.b`` sets ``base["a"]["b"]``, so an override can name one field of a config
    section (``train.lr``) and keep the section's other fields."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        head, _, rest = key.partition(".")
        if rest:
            value = {rest: value}
        if isinstance(value, dict) and isinstance(out.get(head), dict):
            out[head] = merge_params(out[head], value)
        else:
            out[head] = copy.deepcopy(value)
    return out


def _describe(exc: ValidationError, name: str, source: str | None) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "<root>"
        lines.append(f"{loc}: {err['msg']}")
    where = f"{source}: " if source else ""
    return f"{where}invalid {name}: " + "; ".join(lines)


class Settings(FrozenConfig):
    """Runtime settings, read from ``SCENEREC_*`` environment variables.

    Attributes:
        cache_dir: where embeddings, exported models and downloaded datasets live.
        threads: torch / BLAS threads; 0 means "number of cores".
    """

    cache_dir: Path = Path("~/.cache/scenerec").expanduser()
    threads: int = 0

    @classmethod
    def from_env(cls) -> Settings:
        data: dict[str, Any] = {}
        if v := os.environ.get("SCENEREC_CACHE_DIR"):
            data["cache_dir"] = Path(v).expanduser()
        if v := os.environ.get("SCENEREC_THREADS"):
            try:
                data["threads"] = int(v)
            except ValueError:
                raise ConfigError(f"SCENEREC_THREADS must be an integer (got {v!r})") from None
        return cls(**data)

    def resolved_threads(self) -> int:
        return self.threads if self.threads > 0 else (os.cpu_count() or 1)
