"""Generator files (docs/onnx.md): whole items in one onnxruntime call. For every
pretrained model and for plugin models of all three input modes, the generator gives
exactly the items the numpy loop gives over the step/window/sequence file it wraps,
for the same uniforms; its graph has no BatchNorm; its `vocab` output decodes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import REPO, run_mmzoo
from fakeplugins import build_site, mmzoo, write_dist

sys.path.insert(0, str(REPO / "scripts"))

from make_zoo import builtin_models  # noqa: E402

EXPORTED = REPO / "mmzoo" / "pretrained"


def session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("name", builtin_models())
def test_pretrained_generator_is_current_lean_and_self_describing(name: str) -> None:
    from mmzoo.graphs.generate_export import count_ops
    from mmzoo.graphs.generate_graph import generator_bytes

    src, gen = EXPORTED / f"names-{name}.onnx", EXPORTED / f"names-{name}.gen.onnx"
    assert gen.is_file(), f"{gen} is missing: run scripts/make_generators.py"
    data = gen.read_bytes()
    assert data == generator_bytes(src.read_bytes()), f"{gen} is stale: run scripts/make_generators.py {name}"
    proto = onnx.load_from_string(data)
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["mmzoo.input"] == "generate" and props["mmzoo.model"] == name
    assert count_ops(proto.graph, "BatchNormalization") == 0 and count_ops(proto.graph, "Loop") == 4

    s = session(gen)
    L = int(props["mmzoo.max_length"])
    assert [(a.name, a.type, a.shape) for a in s.get_inputs()] == [
        ("uniforms", "tensor(float)", ["batch", L]),
        ("temperature", "tensor(float)", []),
        ("top_k", "tensor(int64)", []),
    ]
    u = np.full((3, L), 0.5, dtype=np.float32)
    tokens, codes = s.run(None, {"uniforms": u, "temperature": np.array(1.0, np.float32), "top_k": np.array(0)})
    assert tokens.dtype == np.int64 and tokens.shape == (3, L)
    assert codes.dtype == np.int32 and "".join(map(chr, codes)) == "".join(json.loads(props["mmzoo.vocab"]))
    rows = tokens.tolist()
    assert all(0 not in r or not any(r[r.index(0) :]) for r in rows)  # the item, then only 0s


@pytest.mark.parametrize("name", builtin_models())
def test_pretrained_generator_gives_the_step_loops_items(name: str) -> None:
    from mmzoo.runtime import OnnxModel, sample_items
    from mmzoo.runtime.sampling import SampleOptions

    loop = OnnxModel(EXPORTED / f"names-{name}.onnx", ["cpu"])
    one_call = OnnxModel(EXPORTED / f"names-{name}.gen.onnx", ["cpu"])
    for options in (
        SampleOptions(300, 1.0, None, "", 5, 300),
        SampleOptions(300, 0.8, 5, "", 6, 64),
        SampleOptions(100, 1.6, 1, "", 7, 100),  # top-1: greedy
        SampleOptions(100, 0.5, 40, "", 8, 100),  # top_k >= V: off
    ):
        want = sample_items(loop, options)
        assert sample_items(one_call, options) == want
        assert len(set(want)) > 1 or options.top_k == 1
    batch_of_one = SampleOptions(8, 1.0, None, "", 5, 1)  # the batch-1 Loop
    assert sample_items(one_call, batch_of_one) == sample_items(loop, SampleOptions(300, 1.0, None, "", 5, 300))[:8]
    for options in (SampleOptions(8, 0.8, 5, "", 6, 1), SampleOptions(8, 1.0, 40, "", 7, 1)):  # batched Loops, 1 row
        assert sample_items(one_call, options) == sample_items(loop, options)


@pytest.mark.parametrize("name", builtin_models())
def test_batch_of_one_body_adds_few_ops_to_the_model(name: str) -> None:
    """Every op in a Loop body runs once per token, and at batch 1 each costs about as much
    as a small model's graph (issue 12): the batch-1 body is the model, the draw, one op
    to stop and one that makes the scanned token rank 1 (the reference evaluator's Loop
    stacks scan outputs with vstack), plus a Slice and a Concat that slide a window of
    more than one token. Constant nodes do not count: onnxruntime makes them initializers."""
    src = onnx.load(str(EXPORTED / f"names-{name}.onnx"))
    gen = onnx.load(str(EXPORTED / f"names-{name}.gen.onnx"))

    def loops(graph: onnx.GraphProto) -> list[onnx.GraphProto]:
        found: list[onnx.GraphProto] = []
        for n in graph.node:
            for attr in n.attribute:
                for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                    found += [sub] if n.op_type == "Loop" else loops(sub)
        return found

    alone = [b for b in loops(gen.graph) if "gen/alive" not in {i.name for i in b.input}]
    assert len(alone) == 1
    props = {p.key: p.value for p in src.metadata_props}
    window = 2 if props["mmzoo.input"] == "window" and props["mmzoo.context_length"] != "1" else 0
    ops = [n for n in alone[0].node if n.op_type != "Constant"]
    assert len(ops) - len(src.graph.node) == 13 + window


def test_mmzoo_sample_on_a_generator_file_prints_the_step_files_names() -> None:
    for name in ("mlp-bn", "gru"):
        args = ("-n", "40", "--seed", "4", "-t", "0.9", "--top-k", "6")
        gen = run_mmzoo("sample", str(EXPORTED / f"names-{name}.gen.onnx"), *args)
        plain = run_mmzoo("sample", str(EXPORTED / f"names-{name}.onnx"), *args)
        assert gen.stdout == plain.stdout and len(gen.stdout.splitlines()) == 40


def test_generator_errors_are_one_line() -> None:
    gen = str(EXPORTED / "names-mlp.gen.onnx")
    for args, message in (
        (("sample", gen, "--prefix", "ab"), "use the step/window file for --prefix"),
        (("export", gen, "--generate", "--out", "/tmp/never.onnx"), "already a generator"),
        (("export", str(REPO / "README.md") + ".onnx", "--generate"), "no such file"),
    ):
        proc = run_mmzoo(*args, check=False)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr
        assert proc.stderr.startswith("mmzoo: error: ") and message in proc.stderr, proc.stderr


def test_export_generate_from_an_exported_file(tmp_path: Path) -> None:
    out = tmp_path / "bigram.gen.onnx"
    doc = json.loads(
        run_mmzoo("export", str(EXPORTED / "names-bigram.onnx"), "--generate", "--out", str(out), "--json").stdout
    )
    assert doc["path"] == str(out) and doc["items_checked"] > 0
    assert out.read_bytes() == (EXPORTED / "names-bigram.gen.onnx").read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temp file left behind
    info = json.loads(run_mmzoo("info", str(out), "--json").stdout)
    assert info["metadata"]["mmzoo.input"] == "generate"
    assert [o["name"] for o in info["outputs"]] == ["tokens", "vocab"]


# -- plugin models of every input mode -----------------------------------------------

SEQUENCE_PLUGIN = '''
from dataclasses import dataclass

from mmzoo import ModelSpec, Recipe, hookimpl

mmzoo_plugin_api = 1


@dataclass(frozen=True)
class SeqConfig:
    n_embd: int = 8


def build(config, vocab_size):
    import torch
    import torch.nn as nn

    class SeqTiny(nn.Module):
        """A sequence-mode model: each position reads its token and the one before."""

        input_mode = "sequence"
        context_length = 4

        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(vocab_size, config.n_embd)
            self.wpe = nn.Embedding(vocab_size, config.n_embd)
            self.head = nn.Linear(config.n_embd, vocab_size)

        def forward(self, idx):  # [B, T] -> [B, T, V]
            prev = torch.cat([torch.zeros_like(idx[:, :1]), idx[:, :-1]], dim=1)
            return self.head(torch.tanh(self.wte(idx) + self.wpe(prev)))

    return SeqTiny()


@hookimpl
def register_models(register):
    register(ModelSpec(name="seqtiny", summary="a sequence-mode model", config=SeqConfig, build=build,
                       recipe=Recipe(steps=30, batch_size=32, lr=1e-2, eval_every=30)))
'''

PLUGIN_MODELS = {"window": ("tiny", []), "sequence": ("seqtiny", []), "step": ("lstm", ["--set", "n_hidden=16"])}


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = build_site(tmp_path_factory.mktemp("gensite"), broken=False)  # mmzoo-good: `tiny`, `vowels`
    write_dist(site, "mmzoo-seqtiny", "seqtiny", SEQUENCE_PLUGIN)
    return site


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(PLUGIN_MODELS))
def test_plugin_model_generator_matches_its_loop(mode: str, plugin_site: Path, tmp_path: Path) -> None:
    name, sets = PLUGIN_MODELS[mode]

    def cli(*args: str) -> None:
        proc = mmzoo(*args, site=plugin_site, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr

    cli("train", name, "--data", "vowels", "--steps", "30", *sets, "--threads", "1", "--out", "run")
    if mode == "step":  # from the exported file, without torch
        cli("export", "run", "--out", "plain.onnx")
        cli("export", "plain.onnx", "--generate", "--out", "gen.onnx")
    else:  # from the run: export, wrap, check, in one command; plain.onnx and plain.gen.onnx
        cli("export", "run", "--generate", "--out", "plain.onnx")
        (tmp_path / "plain.gen.onnx").rename(tmp_path / "gen.onnx")
    plain = onnx.load(str(tmp_path / "plain.onnx"))
    assert {p.key: p.value for p in plain.metadata_props}["mmzoo.input"] == mode
    from mmzoo.runtime import OnnxModel, sample_items
    from mmzoo.runtime.sampling import SampleOptions

    loop, one_call = OnnxModel(tmp_path / "plain.onnx", ["cpu"]), OnnxModel(tmp_path / "gen.onnx", ["cpu"])
    for options in (SampleOptions(300, 1.0, None, "", 2, 300), SampleOptions(100, 0.7, 3, "", 3, 7)):
        want = sample_items(loop, options)
        assert sample_items(one_call, options) == want and len(set(want)) > 1


def test_uniforms_follow_the_documented_hash() -> None:
    """docs/generate.md's formula, in plain Python integers, against uniform_table."""
    from mmzoo.runtime.sampling import uniform_table

    mask = (1 << 64) - 1

    def splitmix64(x: int) -> int:
        z = (x + 0x9E3779B97F4A7C15) & mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    for seed in (0, 1, 12345, -1):
        table = uniform_table(seed, np.arange(5), 16)
        assert table.dtype == np.float32 and ((table >= 0) & (table < 1)).all()
        key = splitmix64(seed & mask)
        for i in range(5):
            item = splitmix64(key ^ ((i * 0x100000001B3) & mask))
            assert [splitmix64(item ^ t) >> 40 for t in range(16)] == (table[i] * 2**24).astype(np.int64).tolist()


def test_top_k_outside_one_to_vocab_means_off() -> None:
    s = session(EXPORTED / "names-gru.gen.onnx")
    u = np.random.default_rng(0).random((50, 16), dtype=np.float32)

    def run(top_k: int) -> np.ndarray:
        return s.run(["tokens"], {"uniforms": u, "temperature": np.array(1.3, np.float32), "top_k": np.array(top_k)})[0]

    off = run(0)
    for top_k in (-5, 27, 10**12):
        assert (run(top_k) == off).all()
    assert (run(2) != off).any()


@pytest.mark.parametrize("name", builtin_models())
def test_tiny_temperatures_draw_the_greedy_tokens_as_the_step_file_does(name: str) -> None:
    """Issue 22 item 7: --temperature 1e-46 and 1e-310 round to 0 in float32, where choose
    takes the most likely token; the generator's temperature-0 Loop must too (it printed
    empty names). Positive temperatures that stay positive in float32 sample as usual."""
    from mmzoo.runtime import OnnxModel, sample_items
    from mmzoo.runtime.sampling import SampleOptions

    loop = OnnxModel(EXPORTED / f"names-{name}.onnx", ["cpu"])
    one_call = OnnxModel(EXPORTED / f"names-{name}.gen.onnx", ["cpu"])
    for temperature in (1e-46, 1e-310, 1.4e-45, 1e-30):
        for top_k, batch in ((None, 1), (None, 40), (3, 40)):
            options = SampleOptions(40, temperature, top_k, "", 9, batch)
            want = sample_items(loop, options)
            assert sample_items(one_call, options) == want
            assert all(want), f"{name} at T={temperature}: an empty name"


def test_temperature_zero_and_a_uniform_of_one_are_documented_draws() -> None:
    """docs/generate.md: temperature 0 (or NaN) draws the first most likely token, and a
    uniform >= 1 draws as the largest float32 below 1 does, as choose clamps it."""
    from mmzoo.runtime.sampling import BELOW_ONE

    s = session(EXPORTED / "names-gru.gen.onnx")
    L = 16
    u = np.random.default_rng(1).random((20, L), dtype=np.float32)

    def run(uniforms: np.ndarray, temperature: float, top_k: int = 0) -> np.ndarray:
        feeds = {"uniforms": uniforms, "temperature": np.array(temperature, np.float32), "top_k": np.array(top_k)}
        return s.run(["tokens"], feeds)[0]

    greedy = run(u, 0.0)
    assert (greedy == greedy[0]).all() and greedy[0, 0] != 0  # every row the same, not empty
    assert (run(u, float("nan")) == greedy).all() and (run(u, -0.0, 5) == greedy).all()
    assert (run(u[:1], 0.0) == greedy[:1]).all()
    ones = np.ones((3, L), np.float32)
    for temperature, top_k in ((1.0, 0), (0.8, 4)):
        assert (run(ones, temperature, top_k) == run(np.full((3, L), BELOW_ONE), temperature, top_k)).all()
        assert (run(ones[:1], temperature, top_k) == run(np.full((1, L), BELOW_ONE), temperature, top_k)).all()
