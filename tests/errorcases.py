"""The cases of docs/errors.md and the files they need, made once per session.

Each case is a real `mmzoo` command line, run in a workspace folder that holds a
tiny corpus, a short bigram-nn run (RUN) and its export (good.onnx), plus damaged
copies of both made here. tests/test_errors.py runs every case through the
installed command; docs/errors.md lists the same commands with what mmzoo says.
"""

from __future__ import annotations

import fcntl
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
from onnx import TensorProto, helper


@dataclass(frozen=True)
class Case:
    did: str  # what the user did, in words
    args: tuple[str, ...]  # the command line after `mmzoo`
    says: str  # a part of the one error line that must be there

    @property
    def command(self) -> str:
        return "mmzoo " + " ".join(a if a and " " not in a else repr(a) for a in self.args)


def _c(did: str, cmd: str, says: str) -> Case:
    return Case(did, tuple(cmd.split()), says)


CASES = [
    # -- data loss and files that are not the user's to overwrite
    _c(
        "a second training into a folder another one is writing",
        "train bigram-nn --data tiny.txt --out LOCKED",
        "is writing LOCKED",
    ),
    _c("an export to a file another export is writing", "export RUN --out locked.onnx", "is writing locked.onnx"),
    _c(
        "a new training into a folder that already holds a run",
        "train bigram-nn --data tiny.txt --out RUN",
        "already holds a run",
    ),
    _c("a training whose --out is an existing file", "train bigram-nn --data tiny.txt --out tiny.txt", "is a file"),
    _c(
        "a training whose --out is a folder holding other files",
        "train bigram-nn --data tiny.txt --out stuff",
        "not empty",
    ),
    _c("an export over the run's own checkpoint", "export RUN --out RUN/model.safetensors", "must end in .onnx"),
    _c("an export into a run folder", "export RUN --out RUN/x.onnx", "inside a run folder"),
    _c("an export whose --out is a folder", "export RUN --out stuff", "is a folder"),
    _c("an export over an existing text file", "export RUN --out tiny.txt", "must end in .onnx"),
    _c("an export where no file can be made", "export RUN --out /proc/mmzoo-test.onnx", "cannot lock"),
    # -- training settings
    _c("--lr nan", "train mlp --data tiny.txt --lr nan", "--lr must be a finite number > 0"),
    _c("--lr inf", "train mlp --data tiny.txt --lr inf", "--lr must be a finite number > 0"),
    _c(
        "--lr 1e9 (training diverges)",
        "train bigram-nn --data tiny.txt --lr 1e9 --steps 50 --out diverged",
        "training diverged",
    ),
    _c("--seed beyond 64 bits", "train mlp --data tiny.txt --seed 1180591620717411303424", "--seed must be"),
    _c("--set n_hidden=-3", "train mlp --data tiny.txt --set n_hidden=-3", "cannot be built"),
    _c("--set n_hidden=0", "train mlp --data tiny.txt --set n_hidden=0", "empty layers"),
    _c("--set block_size=0", "train mlp --data tiny.txt --set block_size=0", "context of 0 tokens"),
    _c("a data file with a 1,000,000-character line", "train bigram-nn --data long.txt", "line 2 is 1,000,000"),
    _c("eval on a file with a 1,000,000-character line", "eval RUN --data long.txt", "line 2 is 1,000,000"),
    _c("--max-item-length 0", "train bigram-nn --data tiny.txt --max-item-length 0", "--max-item-length must"),
    # -- resume
    _c("--resume as another model", "train mlp --resume --out RUN", "is a run of bigram-nn"),
    _c("--resume with a new --lr", "train bigram-nn --resume --out RUN --lr 0.1", "cannot change a resumed run"),
    _c(
        "--resume with a new --batch-size",
        "train bigram-nn --resume --out RUN --batch-size 7",
        "cannot change a resumed run",
    ),
    _c("--resume of a run whose last.json is damaged", "train bigram-nn --resume --out run-lastjson", "is damaged"),
    # -- damaged checkpoints
    _c("sample a run with 0xFF bytes written over its weights", "sample run-ff", "sha256 does not match"),
    _c("eval a run with 0xFF bytes written over its weights", "eval run-ff", "sha256 does not match"),
    _c("sample a run whose weights hold NaN (checksum updated)", "sample run-nan", "NaN or infinite"),
    _c("sample a run whose model.json lacks a key", "sample run-nokey", "vocab must be"),
    _c("sample a run whose model.json has a wrong type", "sample run-type", "context_length must be"),
    _c("sample a run whose model.json says max_length=1e12", "sample run-maxlen", "max_length must be"),
    _c("export a run whose model.json is not JSON", "export run-json", "is damaged"),
    # -- untrusted .onnx files
    _c("an .onnx whose initializer points at external data", "sample external.onnx", "external data"),
    _c("an .onnx whose vocab is shorter than its logits", "sample short-vocab.onnx", "to match the vocab"),
    _c("an .onnx whose context_length disagrees with its graph", "sample ctx-wrong.onnx", "mmzoo.context_length"),
    _c("an .onnx with context_length 0", "sample ctx-zero.onnx", "mmzoo.context_length must be"),
    _c("an .onnx whose declared mode is not its graph's", "sample mode-swapped.onnx", "free length axis"),
    _c("an .onnx whose vocab is null", "sample vocab-null.onnx", "mmzoo.vocab must be a list"),
    _c("a foreign graph with mmzoo metadata copied in", "sample foreign.onnx", "no 'logits' output"),
    _c("an .onnx with max_length -1", "sample maxlen-neg.onnx", "mmzoo.max_length must be"),
    _c("an .onnx with max_length 1e12", "info maxlen-huge.onnx", "mmzoo.max_length must be"),
    _c("an .onnx whose vocab holds a newline", "sample vocab-newline.onnx", "control character"),
    _c("an .onnx whose vocab holds an escape character", "info vocab-escape.onnx", "control character"),
    _c("an .onnx file of random bytes", "sample garbage.onnx", "ONNX"),
    _c("mmzoo info on a run folder", "info RUN", "is a run folder"),
    _c("the Azure provider", "sample good.onnx --provider azure", "remote service"),
    # -- issue 22: hostile files and run folders
    _c(
        "a symlink planted as the run's lock file",
        "train bigram-nn --data tiny.txt --out PLANTED",
        "is a symbolic link: refused",
    ),
    _c("--data that is a device", "train bigram-nn --data /dev/zero", "not a regular file"),
    _c("eval on --data that is a device", "eval RUN --data /dev/zero", "not a regular file"),
    _c("mmzoo info on a device", "info /dev/zero", "not a regular file"),
    _c("an .onnx that is a symlink to a device", "sample zero.onnx", "not a regular file"),
    _c("a run whose model.json names /dev/zero as its data", "eval run-devzero", "not a regular file"),
    _c("a run whose model.json asks for 3.5 billion parameters", "sample run-huge", "over the limit of"),
    _c("--set n_hidden=60000000", "train mlp --data tiny.txt --set n_hidden=60000000", "over the limit of"),
    _c("--batch-size 1000000000000", "train mlp --data tiny.txt --batch-size 1000000000000", "--batch-size must be"),
    _c("--set dropout=nan", "train transformer --data tiny.txt --set dropout=nan", "must be a finite number"),
    _c("diagnose --seed beyond 64 bits", "diagnose mlp --data tiny.txt --seed 18446744073709551616", "--seed must be"),
    _c("diagnose --seed -1", "diagnose mlp --data tiny.txt --seed -1", "--seed must be"),
    _c("an export to x.ONNX", "export RUN --out x.ONNX", "must end in .onnx"),
    _c("a generator made from a file with external data", "export external.onnx --generate", "external data"),
    _c("an .onnx with context_length --3", "sample minus.onnx", "mmzoo.context_length must be"),
    _c("an .onnx with a NaN weight", "sample nan-weight.onnx", "NaN or infinite"),
    _c("an .onnx that makes a 30000 x 30000 constant", "info big-constant.onnx", "900,000,000 elements"),
    _c("a generator whose Loop runs 10**12 trips", "sample loop-trips.onnx", "1,000,000,000,000 trips"),
    _c("a generator whose max_length disagrees with its graph", "sample gen-maxlen.onnx", "mmzoo.max_length says"),
    _c("a step file whose state names the wrong output", "sample state-wrong.onnx", "onnxruntime failed"),
    _c("a foreign graph whose output name holds escape codes", "sample foreign-escape.onnx", "\\x1b[31m"),
    _c("mlp-bn with --batch-size 1", "train mlp-bn --data tiny.txt --batch-size 1", "needs at least 2"),
    _c("--resume after last.json's config was edited", "train bigram-nn --resume --out run-lastcfg", "a number"),
    _c(
        "--resume after last.json's optimizer groups were edited",
        "train bigram-nn --resume --out run-lastopt",
        "cannot be resumed",
    ),
    _c("--resume after the rng tensor was removed", "train bigram-nn --resume --out run-lastrng", "cannot be resumed"),
    _c("a new run whose --out is a symlink", "train bigram-nn --data tiny.txt --out linked", "is a symbolic link"),
]


def make_workspace(root: Path, run_mmzoo: Any, names: list[str]) -> None:
    """The corpus, RUN, good.onnx and every damaged copy the cases name."""
    (root / "tiny.txt").write_text("\n".join(names[:300]) + "\n")
    (root / "long.txt").write_text("anna\n" + "x" * 1_000_000 + "\nbob\n")
    (root / "stuff").mkdir()
    (root / "stuff" / "notes.txt").write_text("mine\n")
    run_mmzoo("train", "bigram-nn", "--data", "tiny.txt", "--steps", "60", "--out", "RUN", "--json", cwd=root)
    run_mmzoo("export", "RUN", "--out", "good.onnx", "--json", cwd=root)
    _damaged_runs(root)
    _damaged_onnx(root)
    _hostile(root)


def hold_locks(root: Path) -> list[int]:
    """Take the locks a running `mmzoo train --out LOCKED` / `export --out locked.onnx` would hold."""
    fds = []
    for target in ("LOCKED", "locked.onnx"):
        f = open(root / f".{target}.lock", "w")  # noqa: SIM115 - held for the session
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        fds.append(f)
    return fds


def _damaged_runs(root: Path) -> None:
    from safetensors.numpy import load, save

    def copy(name: str) -> Path:
        shutil.copytree(root / "RUN", root / name)
        return root / name

    weights = copy("run-ff") / "model.safetensors"
    data = bytearray(weights.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 4096] = b"\xff" * len(data[mid : mid + 4096])
    weights.write_bytes(bytes(data))

    run = copy("run-nan")
    tensors = load((run / "model.safetensors").read_bytes())
    first = next(iter(tensors))
    tensors[first] = tensors[first].copy()
    tensors[first].flat[0] = float("nan")
    blob = save(tensors)
    (run / "model.safetensors").write_bytes(blob)
    _edit_json(run / "model.json", lambda m: m.update(weights_sha256=__import__("hashlib").sha256(blob).hexdigest()))

    _edit_json(copy("run-nokey") / "model.json", lambda m: m.pop("vocab"))
    _edit_json(copy("run-type") / "model.json", lambda m: m.update(context_length="1"))
    _edit_json(copy("run-maxlen") / "model.json", lambda m: m.update(max_length=1e12))
    (copy("run-json") / "model.json").write_text('{"checkpoint_format": 1, "model": ')
    (copy("run-lastjson") / "last.json").write_text("{ not json")


def _edit_json(path: Path, change: Any) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def _damaged_onnx(root: Path) -> None:
    good = onnx.load(str(root / "good.onnx"))
    props = {p.key: p.value for p in good.metadata_props}
    vocab = json.loads(props["mmzoo.vocab"])

    def variant(name: str, **changes: str) -> onnx.ModelProto:
        model = onnx.ModelProto()
        model.CopyFrom(good)
        del model.metadata_props[:]
        for key, value in {**props, **{f"mmzoo.{k}": v for k, v in changes.items()}}.items():
            model.metadata_props.add(key=key, value=value)
        (root / name).write_bytes(model.SerializeToString())
        return model

    variant("short-vocab.onnx", vocab=json.dumps(vocab[:-1]))
    variant("ctx-wrong.onnx", context_length="5")
    variant("ctx-zero.onnx", context_length="0")
    variant("mode-swapped.onnx", input="sequence")
    variant("vocab-null.onnx", vocab="null")
    variant("maxlen-neg.onnx", max_length="-1")
    variant("maxlen-huge.onnx", max_length="1000000000000")
    variant("vocab-newline.onnx", vocab=json.dumps([vocab[0], "\n", *vocab[2:]]))
    variant("vocab-escape.onnx", vocab=json.dumps([vocab[0], "\x1b", *vocab[2:]]))
    (root / "garbage.onnx").write_bytes(bytes(range(256)) * 8)

    # An initializer whose bytes live in .secret/key, relative to where mmzoo runs.
    external = variant("external.onnx")
    tensor = external.graph.initializer[0]
    (root / ".secret").mkdir()
    (root / ".secret" / "key").write_bytes(tensor.raw_data or onnx.numpy_helper.to_array(tensor).tobytes())
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value=".secret/key")
    (root / "external.onnx").write_bytes(external.SerializeToString())

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "foreign",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 27])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 27])],
    )
    foreign = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    for key, value in props.items():
        foreign.metadata_props.add(key=key, value=value)
    (root / "foreign.onnx").write_bytes(foreign.SerializeToString())


def _hostile(root: Path) -> None:
    """The files of issue 22's cases: a planted lock symlink, device paths, oversized or
    poisoned graphs, a generator that disagrees with itself."""
    import numpy as np
    from onnx import numpy_helper
    from synthetic_files import _props, generate_file, step_file

    (root / "victim.txt").write_text("not mmzoo's to truncate\n")
    (root / ".PLANTED.lock").symlink_to("victim.txt")
    (root / "zero.onnx").symlink_to("/dev/zero")
    _edit_json(_copy_run(root, "run-devzero") / "model.json", lambda m: m["data"].update(source="/dev/zero"))
    _edit_json(
        _copy_run(root, "run-huge") / "model.json",
        lambda m: m.update(model="mlp", config={"block_size": 3, "n_embd": 10, "n_hidden": 60_000_000}),
    )
    good = onnx.load(str(root / "good.onnx"))

    def edited(name: str, change: Any) -> None:
        model = onnx.ModelProto()
        model.CopyFrom(good)
        change(model)
        (root / name).write_bytes(model.SerializeToString())

    def set_prop(model: onnx.ModelProto, key: str, value: str) -> None:
        next(p for p in model.metadata_props if p.key == key).value = value

    edited("minus.onnx", lambda m: set_prop(m, "mmzoo.context_length", "--3"))

    def poison(model: onnx.ModelProto) -> None:
        tensor = next(t for t in model.graph.initializer if len(t.dims) == 2)
        array = numpy_helper.to_array(tensor).copy()
        array.flat[0] = np.nan
        tensor.CopyFrom(numpy_helper.from_array(array, tensor.name))

    edited("nan-weight.onnx", poison)

    def big_constant(model: onnx.ModelProto) -> None:
        model.graph.initializer.append(numpy_helper.from_array(np.array([30000, 30000], np.int64), "big_shape"))
        model.graph.node.append(helper.make_node("ConstantOfShape", ["big_shape"], ["big"], name="big"))
        model.graph.output.append(helper.make_tensor_value_info("big", TensorProto.FLOAT, [30000, 30000]))

    edited("big-constant.onnx", big_constant)

    def generator(name: str, max_length: int) -> onnx.ModelProto:
        """synthetic_files' generate file (uniforms [batch, 6]) with full metadata."""
        model = onnx.load(str(generate_file(root / name)))
        del model.metadata_props[:]
        for key, value in _props("generate", 1, max_length, []).items():
            model.metadata_props.add(key=key, value=value)
        (root / name).write_bytes(model.SerializeToString())
        return model

    generator("gen-maxlen.onnx", 9)
    loop = generator("loop-trips.onnx", 6)
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
        ],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, [])],
    )
    loop.graph.node.extend(
        [
            helper.make_node("Constant", [], ["trips"], value=numpy_helper.from_array(np.array(10**12, np.int64))),
            helper.make_node("Constant", [], ["yes"], value=numpy_helper.from_array(np.array(True))),
            helper.make_node("Loop", ["trips", "yes"], [], name="spin", body=body),
        ]
    )
    (root / "loop-trips.onnx").write_bytes(loop.SerializeToString())

    step = onnx.load(str(step_file(root / "state-wrong.onnx")))
    next(p for p in step.metadata_props if p.key == "mmzoo.state").value = json.dumps(
        [{"input": "h", "output": "logits"}]
    )
    (root / "state-wrong.onnx").write_bytes(step.SerializeToString())

    _edit_json(_copy_run(root, "run-lastcfg") / "last.json", lambda m: m["config"].update(l2="x"))
    _edit_json(
        _copy_run(root, "run-lastopt") / "last.json",
        lambda m: m["optimizer"]["param_groups"][0].update(params=[0, 1, 2]),
    )
    from safetensors.numpy import load, save

    run = _copy_run(root, "run-lastrng")
    tensors = load((run / "last.safetensors").read_bytes())
    del tensors["rng"]
    blob = save(tensors)
    (run / "last.safetensors").write_bytes(blob)
    _edit_json(run / "last.json", lambda m: m.update(weights_sha256=__import__("hashlib").sha256(blob).hexdigest()))
    (root / "elsewhere").mkdir()
    (root / "linked").symlink_to("elsewhere")

    foreign = onnx.load(str(root / "foreign.onnx"))
    foreign.graph.node[0].output[0] = foreign.graph.output[0].name = "\x1b[31mred"
    (root / "foreign-escape.onnx").write_bytes(foreign.SerializeToString())


def _copy_run(root: Path, name: str) -> Path:
    shutil.copytree(root / "RUN", root / name)
    return root / name
