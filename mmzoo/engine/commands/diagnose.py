"""`mmzoo diagnose`: resolve model, data, config and recipe as `mmzoo train` does,
run the diagnosis (or one per variant with --compare), then write stats.json (or
compare.json), the figures and the report."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmzoo.errors import MmzooError, UsageError
from mmzoo.runs.writer import diagnose_folder as default_out
from mmzoo.runs.writer import write_json

DEFAULT_STEPS = 1000


@dataclass(frozen=True)
class DiagnoseRequest:
    """Everything `mmzoo diagnose` was asked, as the command line says it."""

    model: str
    data: str | None = None
    steps: int | None = None
    sets: dict[str, str] = dataclasses.field(default_factory=dict)
    preset: str | None = None
    init: str = "as-built"
    no_bn: bool = False
    out: Path | None = None
    seed: int = 42
    gain: float | None = None
    last_scale: float | None = None
    compare: str | None = None
    quiet: bool = False
    device: str | None = None  # --device: cpu, cuda, mps or auto
    threads: int | None = None  # torch threads; None: the policy of mmzoo.threads


def knobs(spec: Any, req: DiagnoseRequest) -> tuple[dict[str, str], Any]:
    """--gain and --last-scale: the config's init_gain and last_layer_scale where the
    model has them; with --init kaiming also the scales that re-initialisation uses."""
    from mmzoo.engine.diagnose import Surgery

    fields = {f.name for f in dataclasses.fields(spec.config)}
    sets, surgery = dict(req.sets), Surgery(init=req.init, no_bn=req.no_bn)
    for flag, key, value in (("--gain", "init_gain", req.gain), ("--last-scale", "last_layer_scale", req.last_scale)):
        if value is None:
            continue
        if key in fields:
            sets[key] = repr(float(value))
        elif req.init != "kaiming":
            raise MmzooError(f"{flag}: {spec.name} has no {key} in its config; "
                             "add --init kaiming to re-initialise its Linear layers with it")  # fmt: skip
    if req.gain is not None:
        surgery = dataclasses.replace(surgery, gain=req.gain)
    if req.last_scale is not None:
        surgery = dataclasses.replace(surgery, last_scale=req.last_scale)
    return sets, surgery


def run_diagnose(zoo: Any, req: DiagnoseRequest) -> tuple[dict[str, Any], str]:
    """Returns (stats.json's or compare.json's document, the text report)."""
    from mmzoo.engine.diagnose.plots import require_matplotlib

    require_matplotlib()  # before a minute of training, not after it
    from mmzoo.corpus import load_corpus
    from mmzoo.engine.diagnose import INIT_MODES
    from mmzoo.engine.threads import params_of, use_threads
    from mmzoo.lengths import config_for_corpus

    if req.init not in INIT_MODES:
        raise MmzooError(f"--init must be one of {', '.join(INIT_MODES)}, got {req.init!r}")
    from mmzoo.engine.commands.train import MAX_SEED

    if not 0 <= req.seed <= MAX_SEED:  # as train: torch's generators take 64 bits, and -1 is no seed
        raise UsageError(f"--seed must be between 0 and 2**63-1, got {req.seed}")
    spec = zoo.model(req.model)
    if spec.fit is not None:  # counted, not trained: makemore part 1's numbers instead
        from mmzoo.engine.commands.diagnose_bigram import run_counts

        return run_counts(spec, req)
    sets, surgery = knobs(spec, req)
    config = spec.make_config(req.preset, sets)
    steps = DEFAULT_STEPS if req.steps is None else req.steps
    if steps < 1:
        raise MmzooError("--steps must be at least 1")
    variants = None
    if req.compare is not None:
        from mmzoo.engine.diagnose.compare import check_variants, parse_compare

        variants = parse_compare(req.compare, spec, req.no_bn, req.init)
        check_variants(spec, req.preset, sets, variants[1])
    recipe = dataclasses.replace(spec.recipe, steps=steps)
    corpus = load_corpus(req.data)
    # the context from the corpus, as mmzoo train sizes it (mmzoo/lengths.py)
    config = config_for_corpus(spec, req.preset, sets, corpus.max_length, corpus.source)
    use_threads(req.threads, params_of(spec, config, corpus.vocab.size))
    out = req.out or default_out(spec.name)
    if out.exists() and not out.is_dir():
        raise MmzooError(f"--out {out} is a file, not a folder")
    if not req.quiet:
        what = f"{len(variants[1])} variants of " if variants else ""
        print(f"diagnosing {what}{spec.name} on {corpus.source} ({len(corpus.items)} items), {steps} steps -> {out}",
              file=sys.stderr)  # fmt: skip
    progress = _progress if not req.quiet and sys.stderr.isatty() else None
    if variants:
        from mmzoo.engine.commands.diagnose_compare import run_compare

        return run_compare(spec, corpus, recipe, req, sets, surgery, variants, out, progress)
    return _run_one(spec, corpus, config, recipe, req, surgery, out, progress)


def _run_one(
    spec: Any, corpus: Any, config: Any, recipe: Any, req: DiagnoseRequest, surgery: Any, out: Path, progress: Any
) -> tuple[dict[str, Any], str]:
    from mmzoo.engine.devices import resolve_device
    from mmzoo.engine.diagnose import diagnose, format_report
    from mmzoo.engine.diagnose.plots import draw_all

    result = diagnose(spec, corpus, config, recipe, recipe.steps, req.init, req.no_bn, req.seed, preset=req.preset,
                      progress=progress, surgery=surgery, device=resolve_device(req.device))  # fmt: skip
    if progress is not None:
        print(file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    figures = draw_all(result, out)
    result.doc["figures"] = figures  # file names, relative to stats.json: the folder can move
    write_json(out / "stats.json", result.doc)
    written = {name: str(out / file) for name, file in {**figures, "stats": "stats.json"}.items()}
    return {**result.doc, "out": str(out)}, format_report(result.doc, written)


def _progress(step: int, total: int, loss: float) -> None:
    if step % 50 == 0 or step == total:
        print(f"\rstep {step}/{total}  loss {loss:.4f}", end="", file=sys.stderr, flush=True)
