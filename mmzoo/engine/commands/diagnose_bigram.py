"""`mmzoo diagnose bigram`: the count model has no training to watch, so its
diagnosis is makemore part 1's arithmetic instead (docs/learnings.md, rows 1-5):
the count matrix drawn as the lecture's grid (counts.png), the row sums, the
likelihood's underflow, the NLL beside what `mmzoo eval` reports, and the limit.
`--compare smoothing=K1,K2,...` sweeps the add-k (smoothing.png)."""

from __future__ import annotations

import sys
from typing import Any

from mmzoo.errors import MmzooError


def _refuse_gradient_options(name: str, req: Any) -> None:
    """The options that change a training run mean nothing to counting: say so."""
    given = [
        flag
        for flag, on in (
            ("--steps", req.steps is not None),
            ("--init", req.init != "as-built"),
            ("--no-bn", req.no_bn),
            ("--gain", req.gain is not None),
            ("--last-scale", req.last_scale is not None),
        )
        if on
    ]
    if given:
        raise MmzooError(f"{name} is fitted by counting, not by gradient descent: {', '.join(given)} does not apply")


def run_counts(spec: Any, req: Any) -> tuple[dict[str, Any], str]:
    """Fit the count model as `mmzoo train` would (same split, same smoothing rule),
    then measure it. Returns (bigram.json's or compare.json's document, the report)."""
    from mmzoo.corpus import load_corpus
    from mmzoo.engine.diagnose.bigram import count_matrix, counts_doc, sweep_doc
    from mmzoo.engine.diagnose.bigram_plots import draw_counts, draw_smoothing
    from mmzoo.engine.training.trainer import Trainer
    from mmzoo.runs.writer import diagnose_folder as default_out
    from mmzoo.runs.writer import write_json

    _refuse_gradient_options(spec.name, req)
    values: list[str] = []
    if req.compare is not None:
        key, sep, rest = req.compare.partition("=")
        values = [v.strip() for v in rest.split(",") if v.strip()]
        if key.strip() != "smoothing" or not sep or len(values) < 2:
            raise MmzooError(f"--compare on {spec.name} takes smoothing=K1,K2,... (two or more add-k values), "
                             f"got {req.compare!r}")  # fmt: skip
    config = spec.make_config(req.preset, req.sets)
    corpus = load_corpus(req.data)
    out = req.out or default_out(spec.name)
    if out.exists() and not out.is_dir():
        raise MmzooError(f"--out {out} is a file, not a folder")
    trainer = Trainer(spec, corpus, config, spec.recipe, req.seed, None, log=lambda message: None)
    if values:
        rows = sweep_doc(corpus, req.seed, trainer.splits, values)  # bad values fail before any file
    if not req.quiet:
        print(f"counting bigrams of {corpus.source} ({len(corpus.items)} items) -> {out}", file=sys.stderr)
    trainer.fit_by_counting()
    doc = counts_doc(corpus, trainer.config, req.seed, trainer.model, trainer.splits)
    out.mkdir(parents=True, exist_ok=True)
    train = trainer.splits["train"]
    draw_counts(count_matrix(train.x, train.y, corpus.vocab.size), corpus.vocab.chars, out / "counts.png")
    doc["figures"] = {"counts": "counts.png"}
    if values:
        doc = {**doc, "compare": "smoothing", "variants": rows}
        draw_smoothing(doc, out / "smoothing.png")
        doc["figures"]["smoothing"] = "smoothing.png"
    name = "compare.json" if values else "bigram.json"
    write_json(out / name, doc)
    written = [str(out / f) for f in (*doc["figures"].values(), name)]
    return {**doc, "out": str(out)}, format_counts(doc, written)


def format_counts(doc: dict[str, Any], written: list[str]) -> str:
    """The terminal's report: one line per learning, the numbers docs/learnings.md quotes."""
    p, c, lk, n, lim = doc["pairs"], doc["counts"], doc["likelihood"], doc["nll"], doc["limit"]
    pairs = " ".join(a + b for a, b in p["pairs"])
    zero = lk["zero_after_characters"]
    lines = [
        f"bigram on {doc['data']['source']} ({doc['data']['items']} items, "
        f"{doc['data']['train_items']} in train), V = {doc['vocab_size']}, add-k smoothing k = {doc['smoothing']:g}",
        "",
        f"1 pairs of {p['item']!r} (boundary at both ends): {pairs}; zip over the train items gives "
        f"{'exactly' if p['zip_equals_training_windows'] else 'NOT'} the training windows' counts",
        f"2 counts: {c['shape'][0]} x {c['shape'][1]}, {c['total']} pairs, {c['zero_cells']} cells never seen; "
        "most common: " + ", ".join(f"{pair} {n}" for pair, n in c["top"][:5]),
        f"3 rows of P = (N + k) / rowsum, float32: max |row sum - 1| = {doc['row_sums']['max_abs_error']:.2e}",
        f"4 likelihood of the first {lk['items']} val items ({lk['characters']} characters) as a float32 product: "
        f"{lk['product_float32']:g}" + (f" (0 from character {zero} on)" if zero else ""),
        f"  log-likelihood {lk['log_likelihood']:.2f}, NLL {lk['nll']:.4f} per character; whole val split: "
        f"by hand {n['val_by_hand']:.6f}, mmzoo's cross-entropy {n['val_mmzoo']:.6f}",
        f"5 limit: unsmoothed counts on train {lim['train_unsmoothed']:.4f} (no bigram does better on train); "
        f"best add-k on val {lim['val_best']:.4f} at k = {lim['val_best_k']:.3g}",
    ]
    for v in doc.get("variants", []):
        val = "inf (a val pair never seen in train)" if v["val_loss"] is None else f"{v['val_loss']:.4f}"
        lines.append(f"  {v['label']:<20} train {v['train_loss']:.4f}  val {val}")
    lines += ["", "written: " + ", ".join(written)]
    return "\n".join(lines)
