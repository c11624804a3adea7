"""Sample names from an mmzoo export with onnxruntime and numpy only (docs/onnx.md).

    python examples/python/sample.py mmzoo/pretrained/names-gru.onnx 10

One item a line on stdout. No mmzoo import: this is what an app would write. Works
for every input mode; `generate` files make the whole batch in one call.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import onnxruntime as ort


def choose(logits: np.ndarray, u: np.ndarray, temperature: float) -> np.ndarray:
    """One token per row from softmax(logits / temperature), by inverting the CDF at u."""
    z = logits.astype(np.float64) / temperature
    cdf = np.cumsum(np.exp(z - z.max(axis=1, keepdims=True)), axis=1)
    picks = (cdf <= (u * cdf[:, -1])[:, None]).sum(axis=1)
    return np.minimum(picks, logits.shape[1] - 1)


class Stepper:
    """Next-token logits for a batch, one position at a time, in any input mode."""

    def __init__(self, session: ort.InferenceSession, props: dict[str, str], batch: int) -> None:
        self.session = session
        self.mode = props["mmzoo.input"]
        self.context = int(props["mmzoo.context_length"])
        self.pairs = json.loads(props["mmzoo.state"])
        self.batch = batch
        width = self.context if self.mode == "window" else 0  # window: left-padded with 0
        self.history = np.zeros((batch, width), dtype=np.int64)
        self.restart()

    def restart(self) -> None:
        """pos 0; state all zeros with every symbolic axis but the batch at 0."""
        self.pos = 0
        self.state = {}
        for arg in self.session.get_inputs():
            if arg.name not in ("idx", "pos"):
                shape = [self.batch if i == 0 else d if isinstance(d, int) else 0 for i, d in enumerate(arg.shape)]
                self.state[arg.name] = np.zeros(shape, dtype=np.float32)

    def feed(self, tokens: np.ndarray) -> np.ndarray:
        self.history = np.concatenate([self.history, tokens[:, None]], axis=1)
        if self.mode == "step":
            if self.pos < self.context:
                return self.step(tokens)
            self.restart()  # past the last position: the last context_length tokens, from 0
            for column in self.history[:, -self.context :].T:
                logits = self.step(np.ascontiguousarray(column))
            return logits
        width = self.context if self.mode == "window" else min(self.context, self.history.shape[1])
        return self.session.run(["logits"], {"idx": np.ascontiguousarray(self.history[:, -width:])})[0]

    def step(self, tokens: np.ndarray) -> np.ndarray:
        feeds = {"idx": tokens, "pos": np.array(self.pos, dtype=np.int64), **self.state}
        out = dict(zip([o.name for o in self.session.get_outputs()], self.session.run(None, feeds)))
        for pair in self.pairs:
            self.state[pair["input"]] = out[pair["output"]]
        self.pos += 1
        return out["logits"]


def sample_loop(session: ort.InferenceSession, n: int, rng: np.random.Generator, temperature: float) -> list[str]:
    props = session.get_modelmeta().custom_metadata_map
    vocab = json.loads(props["mmzoo.vocab"])
    max_length = int(props["mmzoo.max_length"])
    stepper = Stepper(session, props, n)
    logits = stepper.feed(np.zeros(n, dtype=np.int64))  # the leading boundary token
    rows = np.zeros((n, 0), dtype=np.int64)
    done = np.zeros(n, dtype=bool)
    for t in range(max_length):
        picks = np.where(done, 0, choose(logits, rng.random(n), temperature))
        rows = np.concatenate([rows, picks[:, None]], axis=1)
        done |= picks == 0
        if done.all() or t + 1 == max_length:
            break
        logits = stepper.feed(picks)
    return [decode(row, vocab) for row in rows]


def sample_generate(session: ort.InferenceSession, n: int, rng: np.random.Generator, temperature: float) -> list[str]:
    """One call: uniforms in, tokens out; the vocabulary is an output of the graph."""
    width = next(a.shape[1] for a in session.get_inputs() if a.name == "uniforms")
    if not isinstance(width, int):
        width = int(session.get_modelmeta().custom_metadata_map["mmzoo.max_length"])
    feeds = {
        "uniforms": rng.random((n, width), dtype=np.float32),
        "temperature": np.array(temperature, dtype=np.float32),
        "top_k": np.array(0, dtype=np.int64),
    }
    tokens, codes = session.run(["tokens", "vocab"], feeds)
    vocab = [chr(c) for c in codes]
    return [decode(row, vocab) for row in tokens]


def decode(row: np.ndarray, vocab: list[str]) -> str:
    """Tokens up to the first boundary token (0), as characters."""
    end = np.flatnonzero(row == 0)
    return "".join(vocab[i] for i in row[: end[0] if len(end) else len(row)])


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 3:
        print("usage: python sample.py FILE.onnx [N] [SEED]", file=sys.stderr)
        return 2
    n = int(argv[1]) if len(argv) > 1 else 20
    rng = np.random.default_rng(int(argv[2]) if len(argv) > 2 else 0)
    session = ort.InferenceSession(argv[0], providers=["CPUExecutionProvider"])
    if "uniforms" in [a.name for a in session.get_inputs()]:
        items = sample_generate(session, n, rng, 1.0)
    else:
        items = sample_loop(session, n, rng, 1.0)
    sys.stdout.write("".join(item + "\n" for item in items))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
