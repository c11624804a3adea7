"""The built-in corpus, shipped inside the package, and every fact about it that
other parts rely on: its name, where it lies, its vocabulary size (which `mmzoo
list` quotes params at) and the names of the pretrained files made from it.

Kept free of pluggy and torch: the onnxruntime path reads the names from here;
plugin.py registers the corpus as the `names` dataset through pluggy.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

BUILTIN_CORPUS = "names"  # `--data names`, and the default corpus
BUILTIN_VOCAB_SIZE = 27  # '.' and a-z


def builtin_corpus_path() -> Path:
    return Path(str(resources.files(__name__).joinpath("names.txt")))


def pretrained_name(model: str) -> str:
    """The file `make zoo` writes for a model trained on the built-in corpus."""
    return f"{BUILTIN_CORPUS}-{model}.onnx"
