"""`mmzoo export`: pick the run, rebuild its data, export, and report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmzoo.errors import MmzooError

EXPORT_DIR = Path("exported")


def run_export(target: str, out: Path | None, opset: int, calibrate: bool | None) -> dict[str, Any]:
    """calibrate: None keeps the better BatchNorm statistics by val loss; True or False forces."""
    import sys

    from mmzoo.corpus import Vocab, load_corpus, split_items
    from mmzoo.engine.batches import tensorize
    from mmzoo.engine.causality import suspicious_loss_warning
    from mmzoo.engine.export import ExportInputs, export_model
    from mmzoo.engine.runs import load_run, resolve

    run = load_run(resolve(target))
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
    warning = suspicious_loss_warning(report.stats.val_loss, splits["train"])
    if warning:
        print(f"mmzoo: warning: {warning}", file=sys.stderr)
    doc = report.as_json()
    doc["run"] = str(run.directory)
    doc["summary"] = {
        "path": str(report.path),
        "size": f"{report.size_bytes / 1024:.1f} KiB",
        "nodes": report.nodes,
        "parity (max |diff|)": ", ".join(f"{k} {v:.1e}" for k, v in report.parity.items()),
        "val loss": _val_loss_line(report.stats),
        "BatchNorm folded": report.stats.layers,
    }
    return doc


def _val_loss_line(stats: Any) -> str:
    if stats.val_calibrated is None:
        return f"{stats.val_loss:.4f}" + (" (running statistics; not calibrated)" if stats.layers else "")
    kept = "calibrated" if stats.calibrated else "running"
    both = f"running {stats.val_running:.4f}, calibrated {stats.val_calibrated:.4f}"
    return f"{stats.val_loss:.4f} ({kept} statistics kept; {both})"
