"""`mmzoo export`: pick the run, rebuild its data, export, and report."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mmzoo.errors import MmzooError, UsageError

EXPORT_DIR = Path("exported")


def run_export(
    target: str,
    out: Path | None,
    opset: int,
    calibrate: bool | None,
    generate: bool = False,
    threads: int | None = None,
) -> dict[str, Any]:
    """calibrate: None keeps the better BatchNorm statistics by val loss; True or False forces."""
    import sys

    from mmzoo.engine.export.causality import suspicious_loss_warning
    from mmzoo.engine.export.writer import ExportInputs, export_model
    from mmzoo.engine.opened_run import open_run
    from mmzoo.runs.lock import TargetLock

    run = open_run(target, threads)
    out = Path(out) if out is not None else EXPORT_DIR / f"{run.meta.model}.onnx"
    check_out(out)
    train, val, train_items = run.export_data()
    with TargetLock(out, "export"):
        report = export_model(ExportInputs(run.model, run.meta, train, val), out, opset, calibrate)
    warning = suspicious_loss_warning(report.stats.val_loss, train_items) if train_items else None
    if warning:
        print(f"mmzoo: warning: {warning}", file=sys.stderr)
    doc = report.as_json()
    doc["run"] = str(run.directory)
    doc["summary"] = _summary(report)
    if not generate:
        return doc
    from mmzoo.graphs.generate_export import generator_beside

    gen = generator_beside(out, None, doc.pop("summary"))
    gen["export"] = doc
    return gen


def _summary(report: Any) -> dict[str, Any]:
    from mmzoo.engine.export.norms import fold_note

    summary: dict[str, Any] = {
        "path": str(report.path),
        "size": f"{report.size_bytes / 1024:.1f} KiB",
        "nodes": report.nodes,
        "parity (max |diff|)": ", ".join(f"{k} {v:.1e}" for k, v in report.parity.items()),
        "val loss": _val_loss_line(report.stats),
        "BatchNorm folded": report.stats.layers,
    }
    note = fold_note([] if report.norm == "none" else report.norm.split("+"))
    if note:
        summary["normalisation"] = note
    return summary


def check_out(out: Path) -> None:
    """--out may only name an .onnx file that is not inside a run folder, in a writable folder."""
    from mmzoo.runs import folder as checkpoint

    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; name the .onnx file to write, e.g. {out / 'model.onnx'}")
    if out.suffix != ".onnx":  # exactly: `mmzoo sample x.ONNX` would read it as a run name
        raise UsageError(f"--out {out} must end in .onnx (mmzoo only writes .onnx files there)")
    folder = out.parent
    if any((folder / name).exists() for name in (checkpoint.META, checkpoint.LAST_META, checkpoint.WEIGHTS)):
        raise UsageError(f"--out {out} is inside a run folder; export somewhere else (default exported/)")
    if folder.exists() and not folder.is_dir():
        raise MmzooError(f"--out {out}: {folder} is not a folder")
    if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
        raise MmzooError(f"--out {out}: the folder {folder} is not writable")


def _val_loss_line(stats: Any) -> str:
    if stats.val_calibrated is None:
        return f"{stats.val_loss:.4f}" + (" (running statistics; not calibrated)" if stats.layers else "")
    kept = "calibrated" if stats.calibrated else "running"
    both = f"running {stats.val_running:.4f}, calibrated {stats.val_calibrated:.4f}"
    return f"{stats.val_loss:.4f} ({kept} statistics kept; {both})"
