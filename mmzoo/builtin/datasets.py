"""Plugin: the built-in `names` corpus (US baby names, SSA data, newest year)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Callable

from mmzoo.hookspecs import hookimpl
from mmzoo.registry import DatasetSpec


def names_path() -> Path:
    return Path(str(resources.files("mmzoo.datasets").joinpath("names.txt")))


@hookimpl
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    register(
        DatasetSpec(
            name="names",
            summary="29,910 US baby names of 2017 (SSA), both sexes, ordered by count",
            load=names_path,
        )
    )
