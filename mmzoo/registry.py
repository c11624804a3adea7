"""ModelSpec and DatasetSpec: what a plugin registers. Torch-free, so that
registration (and `mmzoo --help`) stays cheap; `build` imports torch when called."""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from mmzoo.errors import MmzooError


@dataclass(frozen=True)
class Recipe:
    """A model's default training recipe. `batch_size` counts contexts for window
    models and whole items for sequence models."""

    steps: int = 10_000
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adamw"  # "adamw" or "sgd"
    weight_decay: float = 0.0
    schedule: str = "cosine"  # "cosine", "step" (lr/10 at 75%) or "constant"
    warmup: int = 0
    final_lr_fraction: float = 0.05
    eval_every: int = 1000


@dataclass(frozen=True)
class ModelSpec:
    """One model as a plugin registers it.

    build(config, vocab_size) returns a torch.nn.Module honouring the model
    contract (docs/plugins.md). `fit`, when given, replaces gradient descent:
    fit(model, train_x, train_y) fills the model from the training tensors.
    """

    name: str
    summary: str
    config: type
    build: Callable[[Any, int], Any]
    recipe: Recipe = field(default_factory=Recipe)
    family: str = ""
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    fit: Callable[..., None] | None = None
    plugin: str = ""  # filled in by the loader: the registering distribution
    plugin_version: str = ""

    def validate(self) -> None:
        """Raise ValueError naming what is wrong, so a malformed spec is reported, not used."""
        if not isinstance(self.name, str) or not self.name or self.name != self.name.strip():
            raise ValueError(f"model name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.summary, str):
            raise ValueError(f"{self.name}: summary must be a string")
        if not (isinstance(self.config, type) and dataclasses.is_dataclass(self.config)):
            raise ValueError(f"{self.name}: config must be a dataclass type")
        try:
            self.config()
        except TypeError as exc:
            raise ValueError(f"{self.name}: config needs defaults for every field ({exc})") from None
        if not callable(self.build):
            raise ValueError(f"{self.name}: build must be callable")
        if not isinstance(self.recipe, Recipe):
            raise ValueError(f"{self.name}: recipe must be an mmzoo.Recipe")
        for preset, values in self.presets.items():
            unknown = set(values) - {f.name for f in dataclasses.fields(self.config)}
            if unknown:
                raise ValueError(f"{self.name}: preset {preset!r} sets unknown fields {sorted(unknown)}")

    def make_config(self, preset: str | None = None, overrides: dict[str, str] | None = None) -> Any:
        """The default config, a preset applied, then `--set key=value` overrides parsed by field type."""
        values: dict[str, Any] = {}
        if preset:
            if preset not in self.presets:
                raise MmzooError(
                    f"{self.name} has no preset {preset!r}; presets: {', '.join(self.presets) or 'none'}"
                )
            values.update(self.presets[preset])
        fields = {f.name: f for f in dataclasses.fields(self.config)}
        defaults = self.config()
        for key, raw in (overrides or {}).items():
            if key not in fields:
                hint = suggest(key, fields)
                raise MmzooError(f"{self.name} has no config field {key!r}{hint}; fields: {', '.join(fields)}")
            values[key] = parse_value(raw, getattr(defaults, key), key)
        return dataclasses.replace(defaults, **values)


@dataclass(frozen=True)
class DatasetSpec:
    """A named corpus: `load()` returns the path of a UTF-8 file, one item per line."""

    name: str
    summary: str
    load: Callable[[], Path]
    plugin: str = ""
    plugin_version: str = ""

    def validate(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"dataset name must be a non-empty string, got {self.name!r}")
        if not callable(self.load):
            raise ValueError(f"{self.name}: load must be callable")


def parse_value(raw: str | Any, default: Any, key: str) -> Any:
    """Turn a `--set key=value` string into the type of the field's default."""
    if not isinstance(raw, str):
        return raw
    try:
        if isinstance(default, bool):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, tuple):
            return tuple(int(part) for part in raw.split(",") if part)
    except ValueError:
        raise MmzooError(f"--set {key}={raw}: expected a {type(default).__name__}") from None
    return raw


def suggest(name: str, choices: Any) -> str:
    """' (did you mean x?)' for the closest choices, or ''."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    if not close:
        return ""
    return " (did you mean " + " or ".join(close) + "?)"
