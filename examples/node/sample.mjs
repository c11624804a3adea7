// Sample names from an mmzoo export with onnxruntime-node alone (docs/onnx.md).
// From the repository root:
//
//   npm ci --ignore-scripts --prefix examples/node     # onnxruntime-node as the lockfile pins it
//   node examples/node/sample.mjs mmzoo/pretrained/names-gru.onnx 10 --seed 3
//
// The same names as `mmzoo sample FILE -n 10 --seed 3`, for step/window/sequence files and
// generator files alike (mmzoo's splitmix64 uniforms, in the same order; --temperature,
// --top-k and --prefix as there). One item a line on stdout. Works for every input mode: `generate` files make the
// whole batch in one call; `window`, `sequence` and `step` files run the sampling
// loop here. onnxruntime-node exposes no metadata_props, so a small protobuf reader
// below finds them in the file's bytes (generate files need only the graph itself).
import { readFileSync } from "node:fs";
import ort from "onnxruntime-node";

const BATCH = 1000; // items sampled together, as `mmzoo sample` does by default

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

// -- randomness: mmzoo's uniforms (docs/generate.md), so that the names are the ones
// `mmzoo sample FILE --seed S` prints. splitmix64 wraps at 2^64: BigInt does that exactly.

const MASK = (1n << 64n) - 1n;

function splitmix64(x) {
  let z = (x + 0x9e3779b97f4a7c15n) & MASK;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
  return z ^ (z >> 31n);
}

// uniforms[row * length + t] for items first..first+count-1: a pure function of (seed, item, t),
// so the batch size does not change the names. Exact in float32, the dtype a generator file takes.
function uniforms(seed, first, count, length) {
  const key = splitmix64(BigInt.asUintN(64, BigInt(seed))); // negative seeds wrap, as in Python
  const out = new Float32Array(count * length);
  for (let row = 0; row < count; row++) {
    const item = splitmix64(key ^ ((BigInt(first + row) * 0x100000001b3n) & MASK));
    for (let t = 0; t < length; t++) out[row * length + t] = Number(splitmix64(item ^ BigInt(t)) >> 40n) / 16777216;
  }
  return out;
}

// One token from softmax(logits / temperature) restricted to the top k, by inverting the CDF
// at u: docs/generate.md's "Sampling, exactly", in float64 from the float32 logits, as
// mmzoo.runtime.sampling.choose computes it.
function choose(logits, u, temperature, topK) {
  const V = logits.length;
  let x = Float64Array.from(logits);
  if (temperature !== 1) {
    const scaled = x.map((z) => z / temperature);
    // a temperature so small that the logits overflow: the limit is the likeliest token
    if (scaled.some((z, i) => !Number.isFinite(z) && Number.isFinite(x[i]))) return argmax(x);
    x = scaled;
  }
  if (topK > 0 && topK < V) {
    const kth = Float64Array.from(x).sort()[V - topK]; // ties with the k-th largest stay
    x = x.map((z) => (z < kth ? -Infinity : z));
  }
  let max = -Infinity;
  for (const z of x) max = Math.max(max, z);
  let total = 0;
  const cdf = x.map((z) => (total += Math.exp(z - max)));
  const target = u * total;
  let pick = 0;
  for (const c of cdf) if (c <= target) pick++;
  return Math.min(pick, V - 1);
}

function argmax(x) {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
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

async function sampleLoop(session, props, opts) {
  const vocab = JSON.parse(props["mmzoo.vocab"]);
  const maxLength = Number(props["mmzoo.max_length"]);
  const V = vocab.length;
  const prefix = Array.from(opts.prefix, (c) => {
    const id = vocab.indexOf(c);
    if (id < 1) throw new Error(`--prefix has a character the model never saw: ${JSON.stringify(c)}`);
    return id;
  });
  const items = [];
  for (let first = 0; first < opts.n; first += BATCH) {
    const B = Math.min(BATCH, opts.n - first);
    const u = uniforms(opts.seed, first, B, maxLength);
    const stepper = new Stepper(session, props, B);
    let logits = await stepper.feed(Array(B).fill(0)); // the leading boundary token
    for (const id of prefix) logits = await stepper.feed(Array(B).fill(id));
    const batch = Array(B).fill(opts.prefix);
    const done = Array(B).fill(false);
    for (let t = 0; t < maxLength; t++) {
      const picks = batch.map((_, row) => {
        if (done[row]) return 0;
        const pick = choose(logits.subarray(row * V, (row + 1) * V), u[row * maxLength + t], opts.temperature, opts.topK);
        if (pick === 0) done[row] = true;
        else batch[row] += vocab[pick];
        return pick;
      });
      if (done.every(Boolean)) break;
      logits = await stepper.feed(picks);
    }
    items.push(...batch);
  }
  return items;
}

// -- generate files: one call, the vocabulary from the graph's `vocab` output

async function sampleGenerate(session, bytes, opts) {
  if (opts.prefix) throw new Error("a generator file starts every item at the boundary token: use the step/window file for --prefix");
  // max_length is the `uniforms` input's declared width (the metadata says it too)
  const meta = session.inputMetadata.find((m) => m.name === "uniforms");
  let maxLength = meta && typeof meta.shape[1] === "number" ? meta.shape[1] : NaN;
  if (!Number.isFinite(maxLength)) maxLength = Number(metadataProps(bytes)["mmzoo.max_length"]);
  const temperature = new ort.Tensor("float32", Float32Array.from([opts.temperature]), []);
  const topK = new ort.Tensor("int64", BigInt64Array.from([BigInt(opts.topK)]), []);
  const items = [];
  for (let first = 0; first < opts.n; first += BATCH) {
    const B = Math.min(BATCH, opts.n - first);
    const u = new ort.Tensor("float32", uniforms(opts.seed, first, B, maxLength), [B, maxLength]);
    const out = await session.run({ uniforms: u, temperature, top_k: topK });
    const vocab = Array.from(out.vocab.data, (code) => String.fromCodePoint(code));
    const tokens = out.tokens.data;
    const width = out.tokens.dims[1];
    for (let row = 0; row < B; row++) {
      let item = "";
      for (let t = 0; t < width; t++) {
        const token = Number(tokens[row * width + t]);
        if (token === 0) break;
        item += vocab[token];
      }
      items.push(item);
    }
  }
  return items;
}

const USAGE = "usage: node sample.mjs FILE.onnx [N] [SEED] [--temperature T] [--top-k K] [--prefix P]";

// FILE [N] [SEED] and the options `mmzoo sample` has (defaults: 20 names, seed 0, T 1, top-k off).
function parseArgs(argv) {
  const opts = { n: 20, seed: "0", temperature: 1, topK: 0, prefix: "" };
  const positional = [];
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].startsWith("--") ? argv[i].split(/=(.*)/s) : [argv[i]];
    const value = () => (inline !== undefined ? inline : argv[++i]);
    if (flag === "--temperature") opts.temperature = Number(value());
    else if (flag === "--top-k") opts.topK = Number(value());
    else if (flag === "--prefix") opts.prefix = value() ?? "";
    else if (flag === "--seed") opts.seed = value();
    else if (flag === "-n") opts.n = Number(value());
    else if (flag.startsWith("--")) throw new Error(`unknown option ${flag}\n${USAGE}`);
    else positional.push(argv[i]);
  }
  const [path, count, seed] = positional;
  if (!path || positional.length > 3) throw new Error(USAGE);
  if (count !== undefined) opts.n = Number(count);
  if (seed !== undefined) opts.seed = seed;
  if (!Number.isInteger(opts.n) || opts.n < 1) throw new Error(`N must be a positive integer, not ${count ?? opts.n}`);
  if (!/^-?\d+$/.test(opts.seed)) throw new Error(`SEED must be an integer, not ${opts.seed}`);
  if (!(opts.temperature > 0)) throw new Error("--temperature must be > 0");
  if (!Number.isInteger(opts.topK) || opts.topK < 0) throw new Error("--top-k must be a whole number (0: off)");
  // the float32 the generator file takes, and what mmzoo's numpy loop rounds to
  opts.temperature = Math.fround(opts.temperature);
  return [path, opts];
}

async function main() {
  const [path, opts] = parseArgs(process.argv.slice(2));
  const bytes = readFileSync(path);
  // pre-packing off, as mmzoo's own sessions have it: Gemm weights round the same in a
  // Loop body and in a main graph (docs/generate.md)
  const session = await ort.InferenceSession.create(bytes, { extra: { session: { disable_prepacking: "1" } } });
  const items = session.inputNames.includes("uniforms")
    ? await sampleGenerate(session, bytes, opts)
    : await sampleLoop(session, metadataProps(bytes), opts);
  process.stdout.write(items.map((s) => s + "\n").join(""));
}

main().catch((err) => {
  console.error(`sample.mjs: error: ${err.message}`);
  process.exit(1);
});
