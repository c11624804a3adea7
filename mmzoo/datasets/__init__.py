"""Corpora shipped inside the package (registered by mmzoo.builtin.datasets).

Kept free of pluggy and torch: the onnxruntime path reads the names from here.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def names_path() -> Path:
    return Path(str(resources.files(__name__).joinpath("names.txt")))
