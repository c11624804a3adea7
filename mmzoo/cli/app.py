"""The `mmzoo` command: a thin typer app, built after plugins load so that plugin
commands attach without reloading anything. Torch is imported only inside the
commands that need it; `mmzoo sample x.onnx` and `mmzoo info` never import it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from mmzoo.cli.output import print_error, print_info, print_json, print_samples, print_table, warn
from mmzoo.contract import DEFAULT_OPSET
from mmzoo.errors import MmzooError, os_error_line
from mmzoo.pretrained import fallback

JSON_OPT = typer.Option(False, "--json", help="Print one JSON document on stdout.")
MAX_ITEM_OPT = typer.Option(
    None, "--max-item-length", help="Refuse data lines longer than this many characters (default 10,000)."
)
DEVICE_OPT = typer.Option("cpu", "--device", help="cpu, cuda, mps or auto (cuda, then mps, then cpu).")
THREADS_OPT = typer.Option(
    None, "--threads", help="torch CPU threads (default: MMZOO_THREADS, else 1 for models under 2M params)."
)


def _zoo() -> Any:
    from mmzoo.plugins import get_zoo

    return get_zoo()


def _parse_sets(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise MmzooError(f"--set expects key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def cmd_list(
    pattern: str | None = typer.Argument(None, help="Glob on model names, e.g. 'mlp*'."),
    as_json: bool = JSON_OPT,
) -> None:
    """List every model: name, family, params at its default config, plugin, summary."""
    from mmzoo.catalog import model_rows

    rows = model_rows(_zoo(), pattern)
    if as_json:
        print_json(rows)
        return
    print_table(
        ["name", "family", "params", "plugin", "summary"],
        [
            [
                r["name"],
                r["family"],
                f"{r['params']:,}" if r["params"] is not None else "?",
                f"{r['plugin']} {r['plugin_version']}",
                r["summary"],
            ]
            for r in rows
        ],
    )
    for r in rows:  # why a params cell shows "?"
        if r["error"]:
            print(f"mmzoo: warning: {r['error']}", file=sys.stderr)
    if len(rows) == 1 and pattern == rows[0]["name"]:
        _print_settings(rows[0])


def _print_settings(row: dict[str, Any]) -> None:
    """One model asked for by name: what `--set`, `--preset` and the train flags can change."""

    def pairs(values: dict[str, Any]) -> str:
        return " ".join(f"{k}={v}" for k, v in values.items())

    print(f"config (--set key=value): {pairs(row['config'])}")
    for name, values in row.get("presets", {}).items():
        print(f"preset {name} (--preset {name}): {pairs(values)}")
    print(f"recipe: {pairs(row['recipe'])}")


def cmd_datasets(as_json: bool = JSON_OPT) -> None:
    """List named corpora usable as `--data NAME`."""
    rows = [
        {"name": d.name, "summary": d.summary, "plugin": d.plugin, "plugin_version": d.plugin_version}
        for d in _zoo().datasets.values()
    ]
    if as_json:
        print_json(rows)
        return
    print_table(
        ["name", "plugin", "summary"], [[r["name"], f"{r['plugin']} {r['plugin_version']}", r["summary"]] for r in rows]
    )


def cmd_plugins(as_json: bool = JSON_OPT) -> None:
    """List plugin distributions, their versions, what each registers, and load errors."""
    zoo = _zoo()
    docs = [p.as_json() for p in zoo.plugins]
    if as_json:
        from mmzoo.hookspecs import PLUGIN_API_VERSION

        print_json({"plugin_api": PLUGIN_API_VERSION, "plugins": docs})
        return
    print_table(
        ["plugin", "distribution", "version", "status", "models", "datasets", "errors"],
        [
            [
                d["name"],
                d["distribution"],
                d["version"],
                d["status"],
                ", ".join(d["models"]),
                ", ".join(d["datasets"]),
                "; ".join(d["errors"]),
            ]
            for d in docs
        ],
    )


def cmd_train(
    model: str = typer.Argument(..., help="Model name (see `mmzoo list`)."),
    data: str | None = typer.Option(None, "--data", help="A text file (one item per line) or a dataset name."),
    steps: int | None = typer.Option(None, "--steps", help="Override the recipe's steps."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Override the recipe's batch size."),
    lr: float | None = typer.Option(None, "--lr", help="Override the recipe's learning rate."),
    ema: float | None = typer.Option(
        None, "--ema", help="Override the recipe's weight averaging: the decay per step, 0 for none."
    ),
    seed: int = typer.Option(42, "--seed", help="Seeds the split, the init and the batches."),
    sets: list[str] = typer.Option([], "--set", help="Config override key=value (repeatable)."),
    preset: str | None = typer.Option(None, "--preset", help="A named config preset (e.g. deep)."),
    out: Path | None = typer.Option(None, "--out", help="Run folder (default runs/MODEL/<timestamp>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out (or the newest run)."),
    threads: int | None = THREADS_OPT,
    device: str = DEVICE_OPT,
    nproc: int | None = typer.Option(None, "--nproc", help="Data-parallel over N processes (runs torchrun)."),
    as_json: bool = JSON_OPT,
    max_item_length: int | None = MAX_ITEM_OPT,
    patience: int | None = typer.Option(
        None, "--patience", help="Stop after N evaluations without a better val (default 3; 0: never)."
    ),
) -> None:
    """Train a model; the best checkpoint by val loss is kept in the run folder."""
    if nproc is not None:
        from mmzoo.cli.launch import launch

        raise typer.Exit(launch(nproc, sys.argv[1:]))
    from mmzoo.engine.commands.train import TrainRequest, train_command

    req = TrainRequest(model, data, steps, batch_size, lr, seed, _parse_sets(sets), preset, out, resume,
                       max_item_length=max_item_length, device=device, threads=threads, ema=ema,
                       patience=patience)  # fmt: skip
    result = train_command(_zoo(), req)
    if as_json and result["rank"] == 0:
        print_json(result)
    if result["interrupted"]:
        raise typer.Exit(130)  # the checkpoint is saved, but `train && export` should stop here


def cmd_sample(
    target: str = typer.Argument(..., help="FILE.onnx, a run folder, a checkpoint, or a model name."),
    n: int = typer.Option(20, "-n", "--num", help="How many items."),
    temperature: float = typer.Option(1.0, "--temperature", "-t"),
    top_k: int | None = typer.Option(None, "--top-k"),
    prefix: str = typer.Option("", "--prefix", help="Every sample starts with this."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same samples."),
    provider: list[str] = typer.Option([], "--provider", help="onnxruntime provider(s): cpu, cuda, auto, ..."),
    batch_size: int = typer.Option(1000, "--batch-size", help="Items generated together."),
    threads: int | None = THREADS_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Generate new items. FILE.onnx samples under onnxruntime alone, without torch."""
    from mmzoo.runtime.sampling import SampleOptions

    options = SampleOptions(n=n, temperature=temperature, top_k=top_k, prefix=prefix, seed=seed, batch_size=batch_size)
    options.check()
    onnx_path = _onnx_target(target)
    if onnx_path is not None:
        from mmzoo.runtime import sample_onnx_file

        doc = sample_onnx_file(onnx_path, options, provider, threads)
    else:
        if provider:
            raise MmzooError("--provider applies to .onnx files; export the model first with `mmzoo export`")
        from mmzoo.engine.commands.sample import sample_checkpoint

        doc = sample_checkpoint(target, options, threads)
    print_samples(doc, as_json)


def _onnx_target(target: str) -> Path | None:
    """FILE.onnx as given, or for a model name without a local run, its pretrained export."""
    if target.endswith(".onnx"):
        return Path(target)
    pretrained = fallback(target)
    if pretrained is not None:
        warn(f"no local run of {target}: sampling the pretrained {pretrained}")
    return pretrained


def cmd_eval(
    target: str = typer.Argument(..., help="A run folder, a checkpoint, or a model name."),
    data: str | None = typer.Option(None, "--data", help="Loss on this file instead of the run's splits."),
    device: str = DEVICE_OPT,
    threads: int | None = THREADS_OPT,
    as_json: bool = JSON_OPT,
    max_item_length: int | None = MAX_ITEM_OPT,
) -> None:
    """Train/val/test loss of a run, or its loss on another file."""
    from mmzoo.engine.commands.eval import evaluate

    doc = evaluate(target, data, max_item_length, device, threads)
    if as_json:
        print_json(doc)
        return
    print_table(
        ["split", "items", "loss"],
        [[k, v["items"], f"{v['loss']:.4f}"] for k, v in doc["losses"].items()],
        title=f"{doc['model']} ({doc['run']})",
    )


def cmd_export(
    target: str = typer.Argument(..., help="A model name (its newest run), a run folder or a checkpoint."),
    out: Path | None = typer.Option(None, "--out", help="Output path (default exported/<model>.onnx)."),
    opset: int = typer.Option(DEFAULT_OPSET, "--opset", help="ONNX opset."),
    calibrate: bool | None = typer.Option(
        None,
        "--calibrate/--no-calibrate",
        help="BatchNorm statistics: recalibrated on train data, or the running ones (default: the better on val).",
    ),
    generate: bool = typer.Option(
        False,
        "--generate",
        help="Also write its generator file X.gen.onnx (whole items in one call); TARGET may be an exported X.onnx.",
    ),
    threads: int | None = THREADS_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Fold BatchNorm, export to ONNX, and check parity under onnxruntime."""
    if generate and target.lower().endswith(".onnx"):  # an exported file: no run, no torch
        from mmzoo.graphs.generate_export import generator_beside

        doc = generator_beside(Path(target), out, {"from": target})
    else:
        from mmzoo.engine.commands.export import run_export

        doc = run_export(target, out, opset, calibrate=calibrate, generate=generate, threads=threads)
    if as_json:
        print_json(doc)
        return
    print_table(["", ""], [[k, v] for k, v in doc["summary"].items()], title="exported", show_header=False)


def cmd_info(
    path: Path = typer.Argument(..., help="An exported FILE.onnx."),
    as_json: bool = JSON_OPT,
) -> None:
    """Show an exported file's metadata, inputs, outputs and the providers available."""
    from mmzoo.runtime import describe

    print_info(describe(path), as_json)


def cmd_diagnose(
    model: str = typer.Argument(..., help="Model name (see `mmzoo list`)."),
    data: str | None = typer.Option(None, "--data", help="A text file (one item per line) or a dataset name."),
    steps: int | None = typer.Option(None, "--steps", help="Training steps to watch (default 1000)."),
    sets: list[str] = typer.Option([], "--set", help="Config override key=value (repeatable)."),
    preset: str | None = typer.Option(None, "--preset", help="A named config preset (e.g. deep)."),
    init: str = typer.Option(
        "as-built",
        "--init",
        help="as-built (the model as its plugin builds it), or re-initialise: kaiming (gain / sqrt(fan_in), "
        "last layer x0.1), default (PyTorch's) or naive (unit Gaussian).",
    ),
    no_bn: bool = typer.Option(False, "--no-bn", help="Replace every BatchNorm layer with Identity."),
    gain: float | None = typer.Option(None, "--gain", help="Kaiming gain: shortcut for --set init_gain=G."),
    last_scale: float | None = typer.Option(
        None, "--last-scale", help="Last-layer scale at init: shortcut for --set last_layer_scale=S."
    ),
    compare: str | None = typer.Option(
        None,
        "--compare",
        help="KEY=V1,V2,...: train each variant (a config field, bn=on,off, init=..., lr=...) side by side; "
        "on bigram, smoothing=K1,K2,...",
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Folder for the figures and stats.json (default runs/MODEL/diagnose-<timestamp>)."
    ),
    seed: int = typer.Option(42, "--seed", help="Seeds the split, the init and the batches."),
    device: str = DEVICE_OPT,
    threads: int | None = THREADS_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Train briefly with hooks on every layer: activation, gradient and update plots, and flags."""
    from mmzoo.engine.commands.diagnose import DiagnoseRequest, run_diagnose

    req = DiagnoseRequest(model, data, steps, _parse_sets(sets), preset, init, no_bn, out, seed, gain, last_scale,
                          compare, quiet=as_json, device=device, threads=threads)  # fmt: skip
    doc, report = run_diagnose(_zoo(), req)
    if as_json:
        print_json(doc)
    else:
        print(report)


def cmd_runs(
    names: list[str] = typer.Argument(
        None, help="Model names, globs (mlp*) or run folders to show; with --plot, a FILE.png to draw into."
    ),
    plot: bool = typer.Option(
        False, "--plot", help="Draw the runs' train/val curves to ROOT/curves.png, or FILE.png: --plot out.png."
    ),
    root: Path = typer.Option(Path("runs"), "--root", help="Where the runs are: ROOT/MODEL/RUN."),
    as_json: bool = JSON_OPT,
) -> None:
    """List the run folders (model, corpus, steps, best val, date, status), oldest first."""
    from mmzoo.runs import listing

    patterns, figure = listing.split_plot_path(names or [], plot, root)
    if figure is not None:
        listing.require_matplotlib()  # before reading a hundred folders
    rows = listing.list_runs(root, patterns)
    if patterns and not rows:
        raise MmzooError(f"no run under {root}/ matches {' '.join(patterns)}")
    if figure is not None and not rows:
        raise MmzooError(f"no runs under {root}/ to plot: train one with `mmzoo train MODEL`")
    drawn = listing.plot_curves(rows, figure) if figure is not None else []
    if as_json:
        doc: dict[str, Any] = {"root": str(root), "runs": [r.as_json() for r in rows]}
        print_json({**doc, "plot": str(figure), "plotted": [r.path for r in drawn]} if figure else doc)
        return
    if not rows:
        print(f"no runs under {root}/: train one with `mmzoo train MODEL`")
        return
    print_table(listing.TABLE_HEADERS, listing.table_rows(rows))
    for r in rows:  # why a row says damaged or unknown, one line each
        if r.note:
            warn(r.note)
    if figure is not None:
        print(f"curves of {len(drawn)} run(s) -> {figure}")


COMMANDS: dict[str, Callable[..., None]] = {
    "list": cmd_list,
    "plugins": cmd_plugins,
    "train": cmd_train,
    "sample": cmd_sample,
    "eval": cmd_eval,
    "export": cmd_export,
    "info": cmd_info,
    "diagnose": cmd_diagnose,
    "datasets": cmd_datasets,
    "runs": cmd_runs,
}

# Commands that work from an .onnx file alone: no plugin loading, no torch.
TORCH_FREE = {"info"}


def build_app(load_plugins: bool = True) -> typer.Typer:
    app = typer.Typer(
        name="mmzoo",
        help="A zoo of makemore-style character-level language models.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    for name, fn in COMMANDS.items():
        app.command(name)(fn)
    if load_plugins:
        zoo = _zoo()
        from mmzoo.plugins.commands import add_commands

        add_commands(zoo, app)
    return app


def _needs_plugins(argv: list[str]) -> bool:
    """`mmzoo sample x.onnx` and `mmzoo info x.onnx` run on onnxruntime alone."""
    words = [a for a in argv if not a.startswith("-")]
    if not words:
        return True
    if words[0] in TORCH_FREE:
        return False
    return not (words[0] == "sample" and len(words) > 1 and words[1].endswith(".onnx"))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        load = _needs_plugins(argv)
        app = build_app(load_plugins=load)
        if load:
            _zoo().warn_broken()
        app(args=argv, prog_name="mmzoo", standalone_mode=True)
    except MmzooError as exc:
        print_error(str(exc), argv)
        return exc.exit_code
    except OSError as exc:  # disk full, permission denied, ...: what the OS said, on one line
        print_error(os_error_line(exc), argv)
        return 1
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code == 2 and "--json" in argv:  # click printed the usage error; stdout still gets a document
            print_json({"error": "invalid command line (the usage error is on stderr)"})
        return code
    except KeyboardInterrupt:
        print("mmzoo: interrupted", file=sys.stderr)
        return 130
    return 0
