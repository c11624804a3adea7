// Sample names from an mmzoo export with onnxruntime-node alone (docs/onnx.md).
//
//   cd examples/node && npm install --ignore-scripts onnxruntime-node
//   node examples/node/sample.mjs mmzoo/pretrained/names-gru.onnx 10
//
// One item a line on stdout. Works for every input mode: `generate` files make the
// whole batch in one call; `window`, `sequence` and `step` files run the sampling
// loop here. onnxruntime-node exposes no metadata_props, so a small protobuf reader
// below finds them in the file's bytes (generate files need only the graph itself).
import { readFileSync } from "node:fs";
import ort from "onnxruntime-node";

// -- metadata_props: ModelProto field 14, each a StringStringEntryProto {1: key, 2: value}

function readVarint(buf, at) {
  let value = 0;
  let scale = 1;
  for (;;) {
    const byte = buf[at++];
    value += (byte & 0x7f) * scale; // plain arithmetic: lengths exceed 2^31 only in theory
    if (byte < 0x80) return [value, at];
    scale *= 128;
  }
}

// Every field of one protobuf message: [fieldNumber, wireType, value or bytes].
function fields(buf) {
  const out = [];
  let at = 0;
  while (at < buf.length) {
    let tag;
    [tag, at] = readVarint(buf, at);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (wire === 0) {
      let value;
      [value, at] = readVarint(buf, at);
      out.push([field, wire, value]);
    } else if (wire === 2) {
      let length;
      [length, at] = readVarint(buf, at);
      out.push([field, wire, buf.subarray(at, at + length)]);
      at += length;
    } else if (wire === 1 || wire === 5) {
      at += wire === 1 ? 8 : 4;
    } else {
      throw new Error(`unexpected protobuf wire type ${wire}: not an ONNX file?`);
    }
  }
  return out;
}

function metadataProps(bytes) {
  const utf8 = new TextDecoder();
  const props = {};
  for (const [field, wire, entry] of fields(bytes)) {
    if (field !== 14 || wire !== 2) continue;
    let key = "";
    let value = "";
    for (const [f, w, v] of fields(entry)) {
      if (w !== 2) continue;
      if (f === 1) key = utf8.decode(v);
      if (f === 2) value = utf8.decode(v);
    }
    props[key] = value;
  }
  return props;
}

// -- randomness: mulberry32, one uniform in [0, 1) per call; any PRNG will do

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// One token from softmax(logits / temperature), by inverting the CDF at u.
function choose(logits, u, temperature) {
  let max = -Infinity;
  for (const z of logits) max = Math.max(max, z);
  const cdf = new Float64Array(logits.length);
  let total = 0;
  for (let i = 0; i < logits.length; i++) {
    total += Math.exp((logits[i] - max) / temperature);
    cdf[i] = total;
  }
  const target = u * total;
  let pick = 0;
  while (pick < logits.length - 1 && cdf[pick] <= target) pick++;
  return pick;
}

// -- the loop for window, sequence and step files

class Stepper {
  constructor(session, props, batch) {
    this.session = session;
    this.mode = props["mmzoo.input"];
    this.context = Number(props["mmzoo.context_length"]);
    this.pairs = JSON.parse(props["mmzoo.state"]);
    this.batch = batch;
    // every row's tokens so far (window mode: starts as context_length boundary tokens)
    this.history = Array.from({ length: batch }, () => (this.mode === "window" ? Array(this.context).fill(0) : []));
    this.restart();
  }

  // pos 0, state all zeros with every symbolic axis but the batch at 0
  restart() {
    this.pos = 0;
    this.state = {};
    for (const meta of this.session.inputMetadata) {
      if (meta.name === "idx" || meta.name === "pos") continue;
      const shape = meta.shape.map((d, i) => (i === 0 ? this.batch : typeof d === "number" ? d : 0));
      this.state[meta.name] = new ort.Tensor("float32", new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
    }
  }

  // tokens[B] at the next position -> logits (Float32Array [B * V]) for the one after
  async feed(tokens) {
    tokens.forEach((t, row) => this.history[row].push(t));
    if (this.mode === "step") {
      if (this.pos < this.context) return this.step(tokens);
      // past the last position the graph knows: read the last context_length tokens from 0
      this.restart();
      let logits;
      for (let t = this.context; t > 0; t--) logits = await this.step(this.history.map((h) => h[h.length - t]));
      return logits;
    }
    const width = this.mode === "window" ? this.context : Math.min(this.context, this.history[0].length);
    const idx = BigInt64Array.from(this.history.flatMap((h) => h.slice(h.length - width)), BigInt);
    const out = await this.session.run({ idx: new ort.Tensor("int64", idx, [this.batch, width]) });
    return out.logits.data;
  }

  async step(tokens) {
    const feeds = {
      idx: new ort.Tensor("int64", BigInt64Array.from(tokens, BigInt), [this.batch]),
      pos: new ort.Tensor("int64", BigInt64Array.from([BigInt(this.pos)]), []),
      ...this.state,
    };
    const out = await this.session.run(feeds);
    for (const { input, output } of this.pairs) this.state[input] = out[output];
    this.pos++;
    return out.logits.data;
  }
}

async function sampleLoop(session, props, n, random, temperature) {
  const vocab = JSON.parse(props["mmzoo.vocab"]);
  const maxLength = Number(props["mmzoo.max_length"]);
  const V = vocab.length;
  const stepper = new Stepper(session, props, n);
  let logits = await stepper.feed(Array(n).fill(0)); // the leading boundary token
  const items = Array.from({ length: n }, () => "");
  const done = Array(n).fill(false);
  for (let t = 0; t < maxLength && !done.every(Boolean); t++) {
    const picks = items.map((_, row) => {
      const u = random();
      if (done[row]) return 0;
      const pick = choose(logits.subarray(row * V, (row + 1) * V), u, temperature);
      if (pick === 0) done[row] = true;
      else items[row] += vocab[pick];
      return pick;
    });
    if (t + 1 < maxLength && !done.every(Boolean)) logits = await stepper.feed(picks);
  }
  return items;
}

// -- generate files: one call, the vocabulary from the graph's `vocab` output

async function sampleGenerate(session, bytes, n, random, temperature) {
  const meta = session.inputMetadata.find((m) => m.name === "uniforms");
  let maxLength = meta && typeof meta.shape[1] === "number" ? meta.shape[1] : NaN;
  if (!Number.isFinite(maxLength)) maxLength = Number(metadataProps(bytes)["mmzoo.max_length"]);
  const uniforms = Float32Array.from({ length: n * maxLength }, random);
  const out = await session.run({
    uniforms: new ort.Tensor("float32", uniforms, [n, maxLength]),
    temperature: new ort.Tensor("float32", Float32Array.from([temperature]), []),
    top_k: new ort.Tensor("int64", BigInt64Array.from([0n]), []),
  });
  const vocab = Array.from(out.vocab.data, (code) => String.fromCodePoint(code));
  const tokens = out.tokens.data;
  const width = out.tokens.dims[1];
  const items = [];
  for (let row = 0; row < n; row++) {
    let item = "";
    for (let t = 0; t < width; t++) {
      const token = Number(tokens[row * width + t]);
      if (token === 0) break;
      item += vocab[token];
    }
    items.push(item);
  }
  return items;
}

async function main() {
  const [path, count = "20", seed = "0"] = process.argv.slice(2);
  if (!path) {
    console.error("usage: node sample.mjs FILE.onnx [N] [SEED]");
    process.exit(2);
  }
  const n = Number(count);
  if (!Number.isInteger(n) || n < 1) throw new Error(`N must be a positive integer, not ${count}`);
  const bytes = readFileSync(path);
  const session = await ort.InferenceSession.create(bytes);
  const random = mulberry32(Number(seed));
  const items = session.inputNames.includes("uniforms")
    ? await sampleGenerate(session, bytes, n, random, 1.0)
    : await sampleLoop(session, metadataProps(bytes), n, random, 1.0);
  process.stdout.write(items.map((s) => s + "\n").join(""));
}

main().catch((err) => {
  console.error(`sample.mjs: error: ${err.message}`);
  process.exit(1);
});
