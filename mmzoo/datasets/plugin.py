"""Plugin: the built-in `names` corpus (US baby names, SSA data, newest year)."""

from __future__ import annotations

from collections.abc import Callable

from mmzoo.datasets import BUILTIN_CORPUS, builtin_corpus_path
from mmzoo.hookspecs import hookimpl
from mmzoo.registry import DatasetSpec


@hookimpl
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    register(
        DatasetSpec(
            name=BUILTIN_CORPUS,
            summary="29,910 US baby names of 2017 (SSA), both sexes, ordered by count",
            load=builtin_corpus_path,
        )
    )
