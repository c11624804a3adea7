"""The context comes from the corpus: config fields that must hold a whole item.

A sequence or step model with a position table (transformer, bow) cannot read an
item longer than its `block_size`; a fixed default (32) made a corpus of longer
items fail minutes into training, whenever a drawn batch happened to hold one. A
config field declared with `item_length_field` is instead sized from the corpus
before training: the longest item + 1 tokens (the item and its closing boundary),
which `--max-item-length` already caps. A field whose default is 0 means "no
limit" (a recurrent net has no position table): it stays 0 unless the user sets
it. A value the user sets below the longest item is refused before any time is
spent, naming the longest item's length. Torch-free: plugins declare it too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from mmzoo.errors import MmzooError

ITEM_LENGTH = "mmzoo.item_length"  # the dataclass field metadata key


def item_length_field(default: int) -> Any:
    """A config field (tokens) that must hold the longest item + 1; 0 as the default means no limit.
    Its default is what `mmzoo list` shows and what a model built without a corpus gets."""
    return dataclasses.field(default=default, metadata={ITEM_LENGTH: True})


def length_fields(config_type: Any) -> list[str]:
    """The names of the config's item-length fields."""
    if not dataclasses.is_dataclass(config_type):
        return []
    return [f.name for f in dataclasses.fields(config_type) if f.metadata.get(ITEM_LENGTH)]


def fitted_config(spec: Any, config: Any, max_length: int, explicit: Iterable[str], source: str = "") -> Any:
    """`config` with each item-length field the user did not set (`explicit`: the keys of
    --set and of the preset) sized to `max_length` (longest item + 1); a set value below it
    is refused here, before training. A field whose default is 0 (no limit) stays 0."""
    explicit = set(explicit)
    defaults = spec.config()
    values: dict[str, Any] = {}
    for name in length_fields(spec.config):
        value = getattr(config, name)
        if name in explicit:
            if isinstance(value, int) and 0 < value < max_length:
                where = f"{source}'s" if source else "the corpus's"
                raise MmzooError(
                    f"{spec.name}: {where} longest item ({max_length - 1} characters, {max_length} tokens "
                    f"with its closing boundary) is longer than {name} {value}: train with --set "
                    f"{name}={max_length} or more, or leave {name} unset to size it from the corpus"
                )
        elif getattr(defaults, name) != 0:
            values[name] = max_length
    return dataclasses.replace(config, **values) if values else config


def config_for_corpus(
    spec: Any, preset: str | None, sets: dict[str, str] | None, max_length: int, source: str = ""
) -> Any:
    """spec.make_config(preset, sets), then fitted_config with what the preset and --set chose
    as explicit: the one call a command that trains on a corpus makes."""
    config = spec.make_config(preset, sets)
    explicit = set(sets or {}) | set(spec.presets.get(preset, {}) if preset else {})
    return fitted_config(spec, config, max_length, explicit, source)
