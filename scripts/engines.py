"""Every pretrained generator file in every engine that implements the ONNX Loop:
`make engines`, or `.venv-openvino/bin/python scripts/engines.py [MODEL ...]`.

Runs mmzoo/pretrained/names-<model>.gen.onnx under onnxruntime's CPU provider (the
reference), onnxruntime's OpenVINO execution provider, the OpenVINO runtime (f32) and
the ONNX reference evaluator, at batch 1 and batch 1000, with mmzoo's uniforms, and
prints a table: `identical` when an engine's tokens equal onnxruntime CPU's for every
call, else what went wrong. Needs numpy, onnx, onnxruntime-openvino and openvino (never
in .venv: onnxruntime-openvino replaces the onnxruntime wheel); an engine that is not
installed shows `not installed`.

Each engine reuses one session for all its calls, batch 1 before batch 1000, with both
a plain call (temperature 1, no top-k) and a tempered top-k call: a runtime that caches
shapes across calls must survive a new, larger batch. OpenVINO computes in bf16 on CPUs
that have it unless asked: both OpenVINO engines ask for f32.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
ZOO = REPO / "mmzoo" / "pretrained"
MODELS = ["bigram", "bigram-nn", "mlp", "mlp-bn", "wavenet", "rnn", "gru", "bow", "transformer"]
BATCHES = (1, 1000)
SETTINGS = ((1.0, 0), (0.8, 5), (1.3, 0), (0.0, 0))  # (temperature, top_k): each of the four batched Loops
ITEMS_AT_1 = 12  # calls at batch 1 (items one at a time, as an app samples them)

Run = Callable[[np.ndarray, float, int], np.ndarray]  # (uniforms, temperature, top_k) -> tokens


def uniforms(seed: int, first: int, n: int, length: int) -> np.ndarray:
    """mmzoo's uniforms (docs/generate.md), items first..first+n-1."""
    sys.path.insert(0, str(REPO))
    from mmzoo.runtime.sampling import uniform_table

    return uniform_table(seed, np.arange(first, first + n), length)


def feeds(u: np.ndarray, temperature: float, top_k: int) -> dict[str, np.ndarray]:
    return {
        "uniforms": np.ascontiguousarray(u, dtype=np.float32),
        "temperature": np.array(temperature, dtype=np.float32),
        "top_k": np.array(top_k, dtype=np.int64),
    }


def ort_engine(path: Path, provider: str) -> Run:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3  # the failure is in the table; not pages of it on stderr
    options.add_session_config_entry("session.disable_prepacking", "1")  # as mmzoo's own sessions
    if provider == "openvino":
        providers: list[Any] = [("OpenVINOExecutionProvider", {"device_type": "CPU", "precision": "FP32"})]
    else:
        providers = ["CPUExecutionProvider"]
    session = ort.InferenceSession(str(path), options, providers=providers)
    if provider == "openvino" and session.get_providers()[0] != "OpenVINOExecutionProvider":
        raise RuntimeError(f"the OpenVINO EP did not take the session ({session.get_providers()})")
    return lambda u, t, k: session.run(["tokens"], feeds(u, t, k))[0]


def openvino_engine(path: Path) -> Run:
    import openvino as ov  # type: ignore[import-not-found,unused-ignore]

    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    out = compiled.output("tokens")

    def run(u: np.ndarray, t: float, k: int) -> np.ndarray:
        return np.asarray(request.infer(feeds(u, t, k))[out])

    return run


def reference_engine(path: Path) -> Run:
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(str(path))

    def run(u: np.ndarray, t: float, k: int) -> np.ndarray:
        outputs: Any = evaluator.run(["tokens"], feeds(u, t, k))
        return np.asarray(outputs[0])

    return run


ENGINES: dict[str, Callable[[Path], Run]] = {
    "onnxruntime CPU": lambda p: ort_engine(p, "cpu"),
    "OpenVINO EP": lambda p: ort_engine(p, "openvino"),
    "OpenVINO runtime f32": openvino_engine,
    "reference evaluator": reference_engine,
}


def calls(length: int) -> list[tuple[int, np.ndarray, float, int]]:
    """(batch, uniforms, temperature, top_k) in the order every engine runs them."""
    out = []
    for batch in BATCHES:
        n = ITEMS_AT_1 if batch == 1 else 1
        for seed, (t, k) in enumerate(SETTINGS):
            table = uniforms(seed, 0, n * batch, length)
            out += [(batch, table[i * batch : (i + 1) * batch], t, k) for i in range(n)]
    return out


def short(exc: BaseException) -> str:
    """The line of an engine's message that says what failed (its last non-empty one)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
    return f"crash: {lines[-1][:120]}"


def compare(model: str, engines: list[str], zoo: Path = ZOO) -> dict[str, dict[int, str]]:
    """engine -> batch -> 'identical' or what differed, for one model."""
    path = zoo / f"names-{model}.gen.onnx"
    import onnx

    length = int({p.key: p.value for p in onnx.load(str(path)).metadata_props}["mmzoo.max_length"])
    todo = calls(length)
    want = [ort_engine(path, "cpu")(u, t, k) for _, u, t, k in todo]
    result: dict[str, dict[int, str]] = {}
    for name in engines:
        cells: dict[int, str] = {}
        try:
            run = ENGINES[name](path)
        except ImportError:
            result[name] = dict.fromkeys(BATCHES, "not installed")
            continue
        except Exception as exc:  # an engine that cannot load the file: its message is the finding
            result[name] = dict.fromkeys(BATCHES, "load " + short(exc))
            continue
        for (batch, u, t, k), expected in zip(todo, want):
            if batch in cells and cells[batch] != "identical":
                continue
            try:
                got = run(u, t, k)
            except Exception as exc:
                cells[batch] = short(exc)
                continue
            if got.shape != expected.shape or got.dtype != expected.dtype:
                cells[batch] = f"different: {got.dtype}{list(got.shape)}"
            elif not np.array_equal(got, expected):
                rows = int((got != expected).any(axis=1).sum())
                cells[batch] = f"different: {rows} of {len(got)} rows (t={t}, k={k})"
            else:
                cells[batch] = "identical"
        result[name] = cells
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help=f"default: {' '.join(MODELS)}")
    parser.add_argument("--engines", nargs="*", default=list(ENGINES), help="default: all four")
    parser.add_argument("--zoo", type=Path, default=ZOO, help="the folder of names-<model>.gen.onnx files")
    args = parser.parse_args()
    models = args.models or MODELS
    unknown = [e for e in args.engines if e not in ENGINES]
    if unknown:
        raise SystemExit(f"unknown engines: {unknown}; known: {list(ENGINES)}")
    header = ["model"] + [f"{e}, batch {b}" for e in args.engines for b in BATCHES]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    failures = 0
    for model in models:
        result = compare(model, args.engines, args.zoo)
        cells = [result[e][b] for e in args.engines for b in BATCHES]
        failures += sum(c not in ("identical", "not installed") for c in cells)
        print("| " + " | ".join([model, *cells]) + " |", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
