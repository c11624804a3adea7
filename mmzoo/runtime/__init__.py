"""Sampling from an exported file with onnxruntime and numpy only: never torch.

from mmzoo.runtime import OnnxSampler
OnnxSampler("exported/mlp-bn.onnx").sample(10, temperature=0.8, seed=1)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmzoo.contract import FORMAT_VERSION, GENERATE, MODES, REQUIRED_KEYS, SPLIT_SEED
from mmzoo.errors import MmzooError
from mmzoo.runtime.onnx_file import read_checked
from mmzoo.runtime.sampling import SampleOptions, generate

# Short names for onnxruntime's execution providers.
PROVIDER_NAMES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "dml": "DmlExecutionProvider",
    "directml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "migraphx": "MIGraphXExecutionProvider",
    "qnn": "QNNExecutionProvider",
    "webgpu": "WebGpuExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
    "nnapi": "NnapiExecutionProvider",
    "cann": "CANNExecutionProvider",
    "acl": "ACLExecutionProvider",
    "vitisai": "VitisAIExecutionProvider",
}
REMOTE_PROVIDERS = {"AzureExecutionProvider"}
SMALL_BATCH = 64  # up to here one intra-op thread is faster for these tiny graphs


def _ort() -> Any:
    import onnxruntime

    return onnxruntime


def available_providers() -> list[str]:
    """What this onnxruntime can run locally: Azure's provider calls a remote service, so it is left out."""
    return [p for p in _ort().get_available_providers() if p not in REMOTE_PROVIDERS]


def provider_name(short: str) -> str:
    if short in PROVIDER_NAMES.values():
        return short
    if short.lower() in ("azure", *(p.lower() for p in REMOTE_PROVIDERS)):
        raise MmzooError("the Azure provider calls a remote service; mmzoo runs models locally only")
    name = PROVIDER_NAMES.get(short.lower())
    if name is None:
        choices = ", ".join(sorted(set(PROVIDER_NAMES) | {"auto"}))
        raise MmzooError(f"unknown provider {short!r}; choose from {choices}")
    return name


@dataclass
class Metadata:
    model: str
    vocab: list[str]
    mode: str
    context_length: int
    state: list[dict[str, str]]
    max_length: int
    props: dict[str, str]

    @classmethod
    def from_props(cls, props: dict[str, str], path: Path) -> Metadata:
        if "mmzoo.format" not in props:
            raise MmzooError(f"{path} has no mmzoo metadata: it was not exported by `mmzoo export`")
        if props["mmzoo.format"] != FORMAT_VERSION:
            raise MmzooError(
                f"{path} uses mmzoo ONNX format {props['mmzoo.format']}; this mmzoo reads {FORMAT_VERSION}"
            )
        missing = [k for k in REQUIRED_KEYS if k not in props]
        if missing:
            raise MmzooError(f"{path} lacks mmzoo metadata: {', '.join(missing)}")
        try:
            meta = cls(
                model=props["mmzoo.model"],
                vocab=json.loads(props["mmzoo.vocab"]),
                mode=props["mmzoo.input"],
                context_length=int(props["mmzoo.context_length"]),
                state=json.loads(props["mmzoo.state"]),
                max_length=int(props["mmzoo.max_length"]),
                props=dict(props),
            )
        except (ValueError, TypeError) as exc:
            raise MmzooError(f"{path} has malformed mmzoo metadata: {exc}") from None
        if meta.mode not in (*MODES, GENERATE):
            raise MmzooError(f"{path}: unknown input mode {meta.mode!r}")
        return meta


class OnnxModel:
    """An exported file: its metadata and onnxruntime sessions (one per thread setting)."""

    def __init__(self, path: str | Path, providers: Sequence[str] | None = None, batch_hint: int = 1) -> None:
        self.path = Path(path)
        # refuses external data; checks the metadata against the graph (mmzoo.runtime.onnx_file)
        self.model_bytes = read_checked(self.path)
        self.requested = list(providers or [])
        self._sessions: dict[int, Any] = {}
        # One session up front, sized for the expected batch; it also gives the metadata.
        first = self.session_for(batch_hint)
        self.metadata = Metadata.from_props(first.get_modelmeta().custom_metadata_map, self.path)

    def _session(self, threads: int) -> Any:
        if threads not in self._sessions:
            ort = _ort()
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            # A generator file's Loop body reads its weights from the outer graph, where
            # onnxruntime never pre-packs them; pre-packed Gemm weights round differently,
            # and the step loop must give the generator's items (mmzoo/runtime/generator.py).
            options.add_session_config_entry("session.disable_prepacking", "1")
            providers = self._providers()
            try:
                session = ort.InferenceSession(self.model_bytes, sess_options=options, providers=providers)
            except Exception as exc:
                first = str(exc).strip().splitlines()
                raise MmzooError(f"{self.path} cannot be loaded by onnxruntime: {first[0] if first else exc}") from None
            self._check_providers(session)
            if "OpenVINOExecutionProvider" in session.get_providers():
                warm_up_cache(session)
            self._sessions[threads] = session
        return self._sessions[threads]

    def _providers(self) -> list[str]:
        available = available_providers()
        wanted = [p for p in self.requested if p.lower() != "auto"]
        if not wanted:
            # onnxruntime's own priority order (CPU last), minus the remote-call Azure provider
            return [p for p in available if p not in REMOTE_PROVIDERS]
        names = [provider_name(p) for p in wanted]
        missing = [n for n in names if n not in available]
        if missing:
            raise MmzooError(
                f"provider {', '.join(missing)} is not available in this onnxruntime; available: {', '.join(available)}"
            )
        if "CPUExecutionProvider" not in names:
            names.append("CPUExecutionProvider")  # for the odd op an accelerator lacks
        return names

    def _check_providers(self, session: Any) -> None:
        """onnxruntime falls back to CPU silently; an explicit request that did not take is an error."""
        got = session.get_providers()
        explicit = [provider_name(p) for p in self.requested if p.lower() != "auto"]
        failed = [p for p in explicit if p not in got]
        if failed:
            raise MmzooError(
                f"provider {', '.join(failed)} did not start (onnxruntime fell back to {got[0]}); "
                f"available: {', '.join(available_providers())}"
            )
        if any(p.lower() == "auto" for p in self.requested):
            print(f"mmzoo: using {got[0]}", file=sys.stderr)

    @property
    def providers(self) -> list[str]:
        return list(next(iter(self._sessions.values())).get_providers())

    def session_for(self, batch: int) -> Any:
        return self._session(1 if batch <= SMALL_BATCH else 0)


def warm_up_cache(session: Any) -> None:
    """A throw-away first call with every cache one position long (step files only).

    OpenVINO gives wrong transformer logits from a few cached positions on when a
    session's first call has the zero-length initial cache (docs/onnx.md, known issues)."""
    names = [arg.name for arg in session.get_inputs()]
    if "pos" not in names:
        return
    feeds: dict[str, np.ndarray] = {"idx": np.zeros(1, dtype=np.int64), "pos": np.array(1, dtype=np.int64)}
    for arg in session.get_inputs():
        if arg.name not in feeds:
            shape = [1 if i == 0 or not isinstance(d, int) else d for i, d in enumerate(arg.shape)]
            feeds[arg.name] = np.zeros(shape, dtype=np.float32)
    session.run(None, feeds)


def run_session(session: Any, names: list[str] | None, feeds: dict[str, np.ndarray], path: Path) -> list[Any]:
    """session.run, with onnxruntime's own errors (a state fed back at the wrong shape, a
    graph that fails on real input) as one MmzooError line naming the file."""
    try:
        return list(session.run(names, feeds))
    except MmzooError:
        raise
    except Exception as exc:  # onnxruntime's pybind exceptions (Fail, InvalidArgument, ...)
        first = (str(exc).strip().splitlines() or [repr(exc)])[0][:300]
        raise MmzooError(f"{path}: onnxruntime failed while sampling: {first}") from None


class OrtStepper:
    """Feeds the numpy sampling loop from an onnxruntime session, in any input mode."""

    def __init__(self, model: OnnxModel) -> None:
        if model.metadata.mode == GENERATE:
            raise MmzooError(f"{model.path} is a generator file: it takes whole batches, not single steps")
        self.model = model
        self.meta = model.metadata
        self.session: Any = None
        self.history = np.zeros((0, 0), dtype=np.int64)
        self.state: dict[str, np.ndarray] = {}
        self.pos = 0

    def start(self, batch: int) -> None:
        self.session = self.model.session_for(batch)
        # window mode: the last context_length tokens, starting as all boundary tokens;
        # sequence mode: every token so far, starting empty; step mode: the last
        # context_length tokens, for the crop past the last position (_crop)
        width = self.meta.context_length if self.meta.mode == "window" else 0
        self.history = np.zeros((batch, width), dtype=np.int64)
        self._restart(batch)

    def _restart(self, batch: int) -> None:
        """pos 0 and the initial state: zeros, every symbolic axis but the batch at 0."""
        self.pos = 0
        self.state = {}
        if self.meta.mode == "step":
            for arg in self.session.get_inputs():
                if arg.name not in ("idx", "pos"):
                    shape = [batch if i == 0 else (d if isinstance(d, int) else 0) for i, d in enumerate(arg.shape)]
                    self.state[arg.name] = np.zeros(shape, dtype=np.float32)

    def feed(self, tokens: np.ndarray) -> np.ndarray:
        tokens = tokens.astype(np.int64)
        if self.meta.mode == "step":
            # step mode: history holds the last context_length tokens, for the crop below
            self.history = np.concatenate([self.history, tokens[:, None]], axis=1)[:, -self.meta.context_length :]
            if self.pos < self.meta.context_length:
                return self._step(tokens)
            return self._crop()
        if self.meta.mode == "window":
            # [B, C], left-padded with the boundary token 0; slide by one
            self.history = np.concatenate([self.history[:, 1:], tokens[:, None]], axis=1)
            return run_session(self.session, ["logits"], {"idx": self.history}, self.model.path)[0]
        # sequence mode: only the last context_length tokens are read, so only they are kept
        # (all of them grew the history by a copy per step: quadratic in the item length)
        keep = self.meta.context_length - 1
        self.history = np.concatenate([self.history[:, self.history.shape[1] - keep :], tokens[:, None]], axis=1)
        return run_session(self.session, ["logits"], {"idx": np.ascontiguousarray(self.history)}, self.model.path)[0]

    def _step(self, tokens: np.ndarray) -> np.ndarray:
        feeds = {"idx": tokens, "pos": np.array(self.pos, dtype=np.int64), **self.state}
        outputs = run_session(self.session, None, feeds, self.model.path)
        named = dict(zip((o.name for o in self.session.get_outputs()), outputs))
        for pair in self.meta.state:
            self.state[pair["input"]] = named[pair["output"]]
        self.pos += 1
        return named["logits"]

    def _crop(self) -> np.ndarray:
        """Past the last position the graph knows (pos = context_length), do what the torch
        path does: read only the last context_length tokens, from position 0. So restart
        the state and step over them; this costs context_length calls a token from here on."""
        self._restart(self.history.shape[0])
        logits = np.zeros((0, 0), dtype=np.float32)
        for t in range(self.history.shape[1]):
            logits = self._step(np.ascontiguousarray(self.history[:, t]))
        return logits


class OnnxSampler:
    """Generate items from an exported mmzoo file; same seed, same items, any batch size."""

    def __init__(self, path: str | Path, providers: Sequence[str] | None = None, batch_hint: int = 1) -> None:
        self.model = OnnxModel(path, providers, batch_hint)

    @property
    def metadata(self) -> Metadata:
        return self.model.metadata

    def sample(
        self,
        n: int = 20,
        temperature: float = 1.0,
        top_k: int | None = None,
        prefix: str = "",
        seed: int = 0,
        batch_size: int = 1000,
    ) -> list[str]:
        return sample_items(self.model, SampleOptions(n, temperature, top_k, prefix, seed, batch_size))


def sample_items(model: OnnxModel, options: SampleOptions) -> list[str]:
    """A generator file in one call per batch, any other file through the numpy loop."""
    if model.metadata.mode == GENERATE:
        from mmzoo.runtime.generator import generate_with_file

        return generate_with_file(model, options)
    return generate(OrtStepper(model), model.metadata.vocab, model.metadata.max_length, options)


ONNX_THREADS_NOTE = "--threads sets torch's threads; onnxruntime sizes its own by the batch (--batch-size)"


def sample_onnx_file(
    path: Path, options: SampleOptions, providers: Sequence[str], threads: int | None = None
) -> dict[str, Any]:
    if threads is not None:  # refused, not silently ignored
        raise MmzooError(f"{ONNX_THREADS_NOTE}; drop --threads for an .onnx file")
    sampler = OnnxSampler(path, providers, batch_hint=max(1, min(options.n, options.batch_size)))
    samples = sample_items(sampler.model, options)
    doc: dict[str, Any] = {
        "model": sampler.metadata.model,
        "source": str(path),
        "provider": sampler.model.providers[0],
        "samples": samples,
    }
    splits = training_splits(sampler.metadata.props)
    if splits is not None:
        from mmzoo.runtime.sampling import novelty

        doc["novelty"] = novelty(samples, splits)
    return doc


def training_splits(props: dict[str, str]) -> dict[str, list[str]] | None:
    """The training splits, for the novelty line: when the file's corpus (the built-in names,
    or the file at `mmzoo.data_source`, relative paths from here) is still there and its
    sha256 is `mmzoo.data_sha256`. None otherwise, and for a corpus large enough to be
    streamed (reading it for one summary line would cost more than the sampling); a
    plugin's dataset name would need pluggy, which this path never imports."""
    from mmzoo.datasets import BUILTIN_CORPUS, builtin_corpus_path

    source, digest = props.get("mmzoo.data_source", ""), props.get("mmzoo.data_sha256", "")
    if not source or not digest:
        return None
    from mmzoo.checks import MAX_ITEM_LIMIT
    from mmzoo.corpus import read_items, split_items
    from mmzoo.corpus.store import stream_min_bytes

    path = builtin_corpus_path() if source == BUILTIN_CORPUS else Path(source)
    try:
        if not path.is_file() or path.stat().st_size >= stream_min_bytes():
            return None
        items, found = read_items(path, MAX_ITEM_LIMIT)
        seed = int(props.get("mmzoo.split_seed", str(SPLIT_SEED)))
    except (MmzooError, OSError, ValueError):
        return None  # a nicety, never a reason to fail sampling
    return split_items(items, seed) if found == digest else None


def describe(path: Path) -> dict[str, Any]:
    model = OnnxModel(path)
    session = model.session_for(1)

    def io(args: Any) -> list[dict[str, Any]]:
        return [{"name": a.name, "type": a.type, "shape": [d if d is not None else "?" for d in a.shape]} for a in args]

    return {
        "path": str(path),
        "size_bytes": path.stat().st_size,
        "metadata": model.metadata.props,
        "inputs": io(session.get_inputs()),
        "outputs": io(session.get_outputs()),
        "providers_available": available_providers(),
    }
