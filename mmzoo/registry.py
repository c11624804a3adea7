"""ModelSpec and DatasetSpec: what a plugin registers. Torch-free, so that
registration (and `mmzoo --help`) stays cheap; `build` imports torch when called."""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import math
import operator
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmzoo.errors import MmzooError

# Model and dataset names are CLI words: `mmzoo export NAME` reads a word with a
# '.' or '/' as a path, and `--data NAME` reads one as a file, so neither may appear.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
BUILD_REF = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")  # "package.module:Class"
# Bounds checked before anything is allocated: a batch of 10^12 indices, or a config
# (from --set or a run's model.json) of 10^9 hidden units, is refused, not attempted.
MAX_BATCH_SIZE = 1 << 20
MAX_PARAMS = 100_000_000  # 400 MB of float32 weights, about 1.6 GB while training with Adam
OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "step", "constant")
BATCHINGS = ("random", "by_length")


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
    batching: str = "random"  # "random", or "by_length": sequence batches of similar lengths, less padding
    ema: float = 0.0  # decay of a moving average of the weights, which is evaluated and saved; 0: off

    def validate(self) -> None:
        """Raise ValueError on a recipe the training loop would choke on mid-run."""
        checks = (
            (_is_int(self.steps) and self.steps >= 0, "steps must be an int >= 0"),
            (
                _is_int(self.batch_size) and 1 <= self.batch_size <= MAX_BATCH_SIZE,
                f"batch_size must be an int in [1, {MAX_BATCH_SIZE:,}]",
            ),
            (_is_number(self.lr) and math.isfinite(self.lr) and self.lr > 0, "lr must be a finite number > 0"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}"),
            (_is_number(self.weight_decay) and self.weight_decay >= 0, "weight_decay must be >= 0"),
            (self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}"),
            (self.batching in BATCHINGS, f"batching must be one of {', '.join(BATCHINGS)}"),
            (_is_int(self.warmup) and self.warmup >= 0, "warmup must be an int >= 0"),
            (
                _is_number(self.final_lr_fraction) and 0 <= self.final_lr_fraction <= 1,
                "final_lr_fraction must be in [0, 1]",
            ),
            (_is_int(self.eval_every) and self.eval_every >= 1, "eval_every must be an int >= 1"),
            (_is_number(self.ema) and 0 <= self.ema < 1, "ema must be in [0, 1)"),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(f"recipe: {message}")


@dataclass(frozen=True)
class ModelSpec:
    """One model as a plugin registers it.

    `build` makes the network: a callable build(config, vocab_size) returning a
    torch.nn.Module that honours the model contract (docs/plugins.md), or a
    "module:attribute" string naming one, imported only when a model is made, so
    that registering (and `mmzoo --help`) never imports torch. `fit`, when given,
    replaces gradient descent: fit(model, train_x, train_y) fills the model from
    the training tensors. `params`, when given, is the network's parameter count
    at the default config and the built-in vocabulary (27): `mmzoo list` shows it
    without importing torch, and mmzoo.testing checks it against a built model.
    """

    name: str
    summary: str
    config: type
    build: Callable[[Any, int], Any] | str
    recipe: Recipe = field(default_factory=Recipe)
    family: str = ""
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    fit: Callable[..., Any] | None = None  # may return a dict of config values it chose (plugin API 4)
    params: int | None = None
    plugin: str = ""  # filled in by the loader: the registering distribution
    plugin_version: str = ""

    def validate(self) -> None:
        """Raise ValueError naming what is wrong, so a malformed spec is reported
        when its plugin loads instead of failing later in the middle of a command."""
        check_name(self.name, "model")
        if not isinstance(self.summary, str):
            raise ValueError(f"{self.name}: summary must be a string")
        if not isinstance(self.family, str):
            raise ValueError(f"{self.name}: family must be a string")
        if not (isinstance(self.config, type) and dataclasses.is_dataclass(self.config)):
            raise ValueError(f"{self.name}: config must be a dataclass type")
        try:
            self.config()
        except TypeError as exc:
            raise ValueError(f"{self.name}: config needs defaults for every field ({exc})") from None
        if not (callable(self.build) or (isinstance(self.build, str) and BUILD_REF.fullmatch(self.build))):
            raise ValueError(f"{self.name}: build must be callable or a 'module:attribute' string")
        if self.fit is not None and not callable(self.fit):
            raise ValueError(f"{self.name}: fit must be callable or None")
        if self.params is not None and not (_is_int(self.params) and self.params >= 0):
            raise ValueError(f"{self.name}: params must be an int >= 0 or None")
        if not isinstance(self.recipe, Recipe):
            raise ValueError(f"{self.name}: recipe must be an mmzoo.Recipe")
        try:
            self.recipe.validate()
        except ValueError as exc:
            raise ValueError(f"{self.name}: {exc}") from None
        if not isinstance(self.presets, dict):
            raise ValueError(f"{self.name}: presets must be a dict of name -> {{field: value}}")
        fields = {f.name for f in dataclasses.fields(self.config)}
        for preset, values in self.presets.items():
            if not isinstance(values, dict):
                raise ValueError(f"{self.name}: preset {preset!r} must be a dict of field -> value")
            unknown = set(values) - fields
            if unknown:
                raise ValueError(f"{self.name}: preset {preset!r} sets unknown fields {sorted(unknown)}")

    def builder(self) -> Callable[[Any, int], Any]:
        """The build callable, importing it first when `build` names one."""
        if callable(self.build):
            return self.build
        module_name, _, attribute = self.build.partition(":")
        try:
            module = importlib.import_module(module_name)
            found = operator.attrgetter(attribute)(module)
        except (ImportError, AttributeError) as exc:
            raise MmzooError(f"{self.name}: cannot import its build {self.build!r}: {exc}") from None
        if not callable(found):
            raise MmzooError(f"{self.name}: its build {self.build!r} is not callable")
        return found

    def create(self, config: Any, vocab_size: int) -> Any:
        """A new, untrained network for this config and vocabulary size. A config the
        network cannot be built from (`--set n_hidden=-3`) is one clear error."""
        build = self.builder()
        _check_config_values(self.name, config)
        self._check_size(build, config, vocab_size)
        try:
            with warnings.catch_warnings(record=True) as caught:  # shown only if the build succeeds
                warnings.simplefilter("default")
                model = build(config, vocab_size)
            context = int(getattr(model, "context_length", 1))
            empty = [name for name, p in model.named_parameters() if p.numel() == 0]
        except MmzooError:
            raise
        except Exception as exc:  # a plugin's build may raise anything: one line, naming who
            lines = str(exc).strip().splitlines()
            why = lines[0][:200] if lines else ""
            if self.plugin and self.plugin != "mmzoo":
                raise MmzooError(
                    f"{self.name} (plugin {self.plugin}): build() raised {type(exc).__name__}: {why}".rstrip(": ")
                ) from None
            raise MmzooError(f"{self.name} cannot be built with {_config_text(config)}: {why}") from None
        if context < 1:
            raise MmzooError(
                f"{self.name} with {_config_text(config)} has a context of {context} tokens; it needs >= 1"
            )
        if empty:
            raise MmzooError(f"{self.name} with {_config_text(config)} has empty layers ({', '.join(empty[:3])})")
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return model

    def _check_size(self, build: Callable[[Any, int], Any], config: Any, vocab_size: int) -> None:
        """Build on torch's meta device first (shapes only, no memory) and refuse a network
        over MAX_PARAMS before its weights are allocated. A build that cannot run on the
        meta device is left to the real build and its own errors."""
        import torch

        try:
            with warnings.catch_warnings(), torch.device("meta"):
                warnings.simplefilter("ignore")
                shapes = build(config, vocab_size)
            params = sum(p.numel() for p in shapes.parameters())
        except Exception:
            return
        if params > MAX_PARAMS:
            raise MmzooError(
                f"{self.name} with {_config_text(config)} would have {params:,} parameters, "
                f"over the limit of {MAX_PARAMS:,}"
            )

    def make_config(self, preset: str | None = None, overrides: dict[str, str] | None = None) -> Any:
        """The default config, a preset applied, then `--set key=value` overrides parsed by field type."""
        values: dict[str, Any] = {}
        if preset:
            if preset not in self.presets:
                raise MmzooError(f"{self.name} has no preset {preset!r}; presets: {', '.join(self.presets) or 'none'}")
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
        """Raise ValueError on a spec `--data NAME` could not use."""
        check_name(self.name, "dataset")
        if not isinstance(self.summary, str):
            raise ValueError(f"{self.name}: summary must be a string")
        if not callable(self.load):
            raise ValueError(f"{self.name}: load must be callable")


def check_name(name: Any, what: str) -> None:
    """A model or dataset name must be a plain CLI word (see NAME_PATTERN)."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"{what} name must be letters, digits, '-' or '_' (starting with a letter or digit), got {name!r}"
        )


def _check_config_values(name: str, config: Any) -> None:
    """A NaN or infinite float in a config (`--set dropout=nan`, an edited model.json) is
    refused here, not deep in a forward pass."""
    if not (dataclasses.is_dataclass(config) and not isinstance(config, type)):
        return
    try:
        defaults = dataclasses.asdict(type(config)())
    except TypeError:
        defaults = {}
    for key, value in dataclasses.asdict(config).items():
        default = defaults.get(key)
        if _is_number(default) and not _is_number(value):  # l2="x" in an edited model.json
            raise MmzooError(f"{name}: config {key}={value!r} must be a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise MmzooError(f"{name}: config {key}={value} must be a finite number")


def _config_text(config: Any) -> str:
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return " ".join(f"{k}={v}" for k, v in dataclasses.asdict(config).items())
    return repr(config)[:200]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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
        if isinstance(default, tuple):  # "1,2", or "(1, 2)" as `mmzoo list` prints it
            return tuple(int(part) for part in raw.strip().strip("()[]").split(",") if part.strip())
    except ValueError:
        raise MmzooError(f"--set {key}={raw}: expected a {type(default).__name__}") from None
    return raw


def suggest(name: str, choices: Any) -> str:
    """' (did you mean x?)' for the closest choices, or ''."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    if not close:
        return ""
    return " (did you mean " + " or ".join(close) + "?)"
