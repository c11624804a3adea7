"""`mmzoo sample RUN`: the torch path, through the same numpy loop as onnxruntime."""

from __future__ import annotations

from typing import Any

from mmzoo.runtime.sampling import SampleOptions, generate, novelty


def sample_checkpoint(target: str, options: SampleOptions, threads: int | None = None) -> dict[str, Any]:
    from mmzoo.engine.opened_run import open_run
    from mmzoo.engine.torch_sampling import TorchStepper

    run = open_run(target, threads)
    samples = generate(TorchStepper(run.model), list(run.meta.vocab), run.meta.max_length, options)
    doc: dict[str, Any] = {"model": run.meta.model, "source": str(run.directory), "samples": samples}
    splits = run.training_splits()
    if splits is not None:
        doc["novelty"] = novelty(samples, splits)
    return doc
