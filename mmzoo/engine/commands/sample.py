"""`mmzoo sample RUN`: the torch path, through the same numpy loop as onnxruntime."""

from __future__ import annotations

from typing import Any

from mmzoo.sampling import SampleOptions, generate, novelty


def sample_checkpoint(target: str, options: SampleOptions, threads: int | None = None) -> dict[str, Any]:
    from mmzoo.engine.runs import load_run, resolve
    from mmzoo.engine.threads import use_threads
    from mmzoo.engine.torch_sampling import TorchStepper

    run = load_run(resolve(target))
    use_threads(threads, run.meta.get("params"))
    samples = generate(TorchStepper(run.model), run.meta["vocab"], run.meta["max_length"], options)
    doc: dict[str, Any] = {"model": run.meta["model"], "source": str(run.directory), "samples": samples}
    splits = training_splits(run.meta["data"], run.meta["split"]["seed"])
    if splits is not None:
        doc["novelty"] = novelty(samples, splits)
    return doc


def training_splits(data: dict[str, Any], seed: int) -> dict[str, list[str]] | None:
    """The run's splits, if its corpus is still where it was and unchanged."""
    from mmzoo.corpus import load_corpus, split_items
    from mmzoo.errors import MmzooError

    try:
        corpus = load_corpus(data["source"])
    except MmzooError:
        return None
    if corpus.sha256 != data["sha256"]:
        return None
    return split_items(corpus.items, seed)
