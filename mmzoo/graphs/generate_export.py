"""Write a generator file next to (or instead of) an exported file, and check it before it
appears: onnx.checker on the graph, then onnxruntime's items against the numpy loop's
items over the wrapped file, for the same uniforms. Torch-free, like generate_graph.py."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mmzoo.errors import MmzooError
from mmzoo.fsutil import sync_dir, temp_path, write_synced

# (n, temperature, top_k, seed, batch size): the draws the check compares, small enough to
# be quick; batch 1 at temperature 1 without top-k runs a Loop of its own, and so does a
# temperature that is 0 in float32 (generate_graph.py)
CHECKS = ((300, 1.0, None, 0, 300), (300, 0.7, 4, 1, 300), (30, 1.0, None, 2, 1), (30, 1e-46, None, 3, 30))


def generator_path(path: Path) -> Path:
    """exported/names-gru.onnx -> exported/names-gru.gen.onnx"""
    return path.with_name(path.name.removesuffix(".onnx") + ".gen.onnx")


def write_generator(src: Path, out: Path) -> dict[str, Any]:
    """Build the generator for the exported file `src`, check it, write it to `out`."""
    import onnx

    from mmzoo.graphs.generate_graph import build_generator

    if not src.is_file():
        raise MmzooError(f"no such file: {src}")
    try:
        proto = onnx.load_from_string(src.read_bytes())
    except Exception as exc:  # a truncated or foreign file
        raise MmzooError(f"{src} is not an ONNX file: {type(exc).__name__}") from None
    gen = build_generator(proto)
    bn = count_ops(gen.graph, "BatchNormalization")
    if bn:
        raise MmzooError(f"the generator still has {bn} BatchNormalization nodes")
    data = gen.SerializeToString()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(out)
    try:
        write_synced(tmp, data)
        checked = check_same_items(src, tmp)
        os.replace(tmp, out)
        sync_dir(out.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return {"path": str(out), "source": str(src), "size_bytes": len(data), "items_checked": checked}


def count_ops(graph: Any, op_type: str) -> int:
    """Nodes of one type in a graph and every subgraph inside it (a Loop's body)."""
    total = 0
    for n in graph.node:
        total += n.op_type == op_type
        for attr in n.attribute:
            for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                total += count_ops(sub, op_type)
    return total


def check_same_items(src: Path, gen: Path) -> int:
    """The generator's items equal the numpy loop's over `src`; how many were compared."""
    from mmzoo.runtime import OnnxModel, sample_items
    from mmzoo.runtime.sampling import SampleOptions

    loop, one_call = OnnxModel(src, ["cpu"]), OnnxModel(gen, ["cpu"])
    compared = 0
    for n, temperature, top_k, seed, batch in CHECKS:
        options = SampleOptions(n, temperature, top_k, "", seed, batch_size=batch)
        want, got = sample_items(loop, options), sample_items(one_call, options)
        bad = [i for i, (a, b) in enumerate(zip(want, got)) if a != b]
        if bad:
            i = bad[0]
            raise MmzooError(
                f"the generator differs from the step loop on {len(bad)} of {n} items "
                f"(item {i}: {got[i]!r} vs {want[i]!r})"
            )
        compared += n
    return compared


def generator_beside(src: Path, out: Path | None, summary: dict[str, Any]) -> dict[str, Any]:
    """Write the generator of the exported file `src` (to `out`, default X.onnx -> X.gen.onnx)
    and say so in `summary`, the lines the CLI prints. `mmzoo export RUN --generate` calls
    it after the plain export; `mmzoo export FILE.onnx --generate` with the file alone,
    without torch."""
    doc = write_generator(src, out or generator_path(src))
    doc["summary"] = {
        **summary,
        "generator": doc["path"],
        "generator size": f"{doc['size_bytes'] / 1024:.1f} KiB",
        "same items as the step loop": doc["items_checked"],
    }
    return doc
