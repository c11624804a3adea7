"""`mmzoo export`: pick the run, rebuild its data, export, and report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmzoo.errors import MmzooError

EXPORT_DIR = Path("exported")


def run_export(
    target: str, out: Path | None, opset: int, calibrate: bool, threads: int | None = None
) -> dict[str, Any]:
    from mmzoo.corpus import Vocab, load_corpus, split_items
    from mmzoo.engine.batches import tensorize
    from mmzoo.engine.export import ExportInputs, export_model
    from mmzoo.engine.runs import load_run, resolve
    from mmzoo.engine.threads import use_threads

    run = load_run(resolve(target))
    use_threads(threads, run.meta.get("params"))
    meta = run.meta
    corpus = load_corpus(meta["data"]["source"])
    if corpus.sha256 != meta["data"]["sha256"]:
        raise MmzooError(f"{corpus.source} changed since training: export needs the training data to calibrate")
    vocab = Vocab(tuple(meta["vocab"]))
    splits = split_items(corpus.items, meta["split"]["seed"])
    train = tensorize(splits["train"], vocab, meta["max_length"], run.model)
    val = tensorize(splits["val"], vocab, meta["max_length"], run.model)
    out = out or EXPORT_DIR / f"{meta['model']}.onnx"
    report = export_model(ExportInputs(run.model, meta, train, val), out, opset, calibrate)
    doc = report.as_json()
    doc["run"] = str(run.directory)
    doc["summary"] = {
        "path": str(report.path),
        "size": f"{report.size_bytes / 1024:.1f} KiB",
        "nodes": report.nodes,
        "parity (max |diff|)": ", ".join(f"{k} {v:.1e}" for k, v in report.parity.items()),
        "val loss": f"{report.val_loss:.4f}"
        + (f" (running stats: {report.val_loss_uncalibrated:.4f})" if report.calibrated else ""),
        "BatchNorm folded": report.bn_folded,
    }
    return doc
