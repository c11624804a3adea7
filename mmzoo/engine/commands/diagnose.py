"""`mmzoo diagnose`: resolve model, data, config and recipe as `mmzoo train` does,
run the diagnosis, then write stats.json, the figures and the report."""

from __future__ import annotations

import dataclasses
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from mmzoo.errors import MmzooError

DEFAULT_STEPS = 1000


def default_out(model_name: str) -> Path:
    """runs/MODEL/diagnose-<timestamp>: beside the model's runs, never mistaken for one (no checkpoint)."""
    from mmzoo.engine.runs import RUNS_ROOT

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = RUNS_ROOT / model_name / f"diagnose-{stamp}"
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def run_diagnose(
    zoo: Any,
    model_name: str,
    data: str | None,
    steps: int | None,
    sets: dict[str, str],
    preset: str | None,
    init: str,
    no_bn: bool,
    out: Path | None,
    seed: int,
    quiet: bool = False,
    threads: int | None = None,
) -> tuple[dict[str, Any], str]:
    """Returns (stats.json's document, the text report)."""
    from mmzoo.engine.diagnose_plots import require_matplotlib

    require_matplotlib()  # before a minute of training, not after it
    from mmzoo.corpus import load_corpus
    from mmzoo.engine.diagnose import INIT_MODES, diagnose, format_report
    from mmzoo.engine.diagnose_plots import draw_all
    from mmzoo.engine.threads import params_of, use_threads

    if init not in INIT_MODES:
        raise MmzooError(f"--init must be one of {', '.join(INIT_MODES)}, got {init!r}")
    spec = zoo.model(model_name)
    config = spec.make_config(preset, sets)
    steps = DEFAULT_STEPS if steps is None else steps
    if steps < 1:
        raise MmzooError("--steps must be at least 1")
    recipe = dataclasses.replace(spec.recipe, steps=steps)
    corpus = load_corpus(data)
    use_threads(threads, params_of(spec, config, corpus.vocab.size))
    out = out or default_out(spec.name)
    if out.exists() and not out.is_dir():
        raise MmzooError(f"--out {out} is a file, not a folder")
    if not quiet:
        print(f"diagnosing {spec.name} on {corpus.source} ({len(corpus.items)} items), {steps} steps -> {out}",
              file=sys.stderr)  # fmt: skip
    progress = _progress if not quiet and sys.stderr.isatty() else None
    result = diagnose(spec, corpus, config, recipe, steps, init, no_bn, seed, preset=preset, progress=progress)
    if progress is not None:
        print(file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    figures = draw_all(result, out)
    result.doc["figures"] = figures  # file names, relative to stats.json: the folder can move
    (out / "stats.json").write_text(json.dumps(result.doc, indent=1) + "\n", encoding="utf-8")
    written = {name: str(out / file) for name, file in {**figures, "stats": "stats.json"}.items()}
    return {**result.doc, "out": str(out)}, format_report(result.doc, written)


def _progress(step: int, total: int, loss: float) -> None:
    if step % 50 == 0 or step == total:
        print(f"\rstep {step}/{total}  loss {loss:.4f}", end="", file=sys.stderr, flush=True)
