// The page: pick a pretrained generator file (docs/generate.md), feed it mmzoo's
// uniforms one name at a time, show each name as it comes. onnxruntime-web's wasm
// backend, one thread (no worker, no SharedArrayBuffer, no special headers needed).
import * as ort from "./ort/ort.wasm.min.mjs";
import { decode, itemUniforms, seedKey } from "./uniforms.mjs";

ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;
ort.env.wasm.wasmPaths = new URL("./ort/", import.meta.url).href;

const $ = (id) => document.getElementById(id);
const sessions = new Map(); // file -> Promise<{session, maxLength}>
let runs = 0; // a new click cancels the run in progress

function setStatus(text, state) {
  $("status").textContent = text;
  $("status").className = state === "error" ? "error" : "";
  document.body.dataset.state = state;
}

// One session per file. Pre-packing off, as mmzoo's own sessions have it (docs/generate.md).
function load(file) {
  if (!sessions.has(file)) {
    const made = ort.InferenceSession.create(file, {
      executionProviders: ["wasm"],
      graphOptimizationLevel: "all",
      extra: { session: { disable_prepacking: "1" } },
    }).then((session) => {
      const uniforms = session.inputMetadata.find((m) => m.name === "uniforms");
      const maxLength = uniforms && uniforms.shape[1];
      if (typeof maxLength !== "number") throw new Error(`${file} is not a generator file (no uniforms[batch, L] input)`);
      return { session, maxLength };
    });
    made.catch(() => sessions.delete(file));
    sessions.set(file, made);
  }
  return sessions.get(file);
}

function readOptions() {
  const temperature = Number($("temperature").value);
  const topK = Number($("topk").value);
  const seed = $("seed").value.trim() || "0";
  const n = Number($("count").value);
  if (!(temperature > 0)) throw new Error("temperature must be > 0");
  if (!Number.isInteger(topK) || topK < 0) throw new Error("top-k must be a whole number, 0 for off");
  if (!/^-?\d+$/.test(seed)) throw new Error("seed must be a whole number");
  if (!Number.isInteger(n) || n < 1) throw new Error("how many must be a whole number >= 1");
  return { model: $("model").value, temperature, topK, seed, n };
}

// The command that prints the same names.
function command({ model, temperature, topK, seed, n }) {
  const file = $("model").selectedOptions[0].dataset.file.split("/").pop();
  let cmd = `mmzoo sample mmzoo/pretrained/${file} -n ${n} --seed ${seed}`;
  if (temperature !== 1) cmd += ` --temperature ${temperature}`;
  if (topK > 0) cmd += ` --top-k ${topK}`;
  return cmd;
}

async function makeNames(event) {
  event?.preventDefault();
  const run = ++runs;
  const list = $("names");
  list.replaceChildren();
  try {
    const options = readOptions();
    const file = $("model").selectedOptions[0].dataset.file;
    setStatus(`loading ${options.model}...`, "running");
    const { session, maxLength } = await load(file);
    $("command").innerHTML = "same names: <code></code>";
    $("command").querySelector("code").textContent = command(options);
    const key = seedKey(options.seed);
    const temperature = new ort.Tensor("float32", Float32Array.from([options.temperature]), []);
    const topK = new ort.Tensor("int64", BigInt64Array.from([BigInt(options.topK)]), []);
    const started = performance.now();
    setStatus(`sampling ${options.model}...`, "running");
    for (let i = 0; i < options.n; i++) {
      // item i's uniforms depend on (seed, i) only: one name a call, same names as any batch
      const uniforms = new ort.Tensor("float32", itemUniforms(key, i, maxLength), [1, maxLength]);
      const out = await session.run({ uniforms, temperature, top_k: topK });
      if (run !== runs) return; // superseded
      const vocab = Array.from(out.vocab.data, (code) => String.fromCodePoint(code));
      const [name] = decode(out.tokens.data, out.tokens.dims[1], vocab);
      const li = document.createElement("li");
      li.textContent = name;
      list.append(li);
      await new Promise((resolve) => setTimeout(resolve, 0)); // let the name show
    }
    const ms = performance.now() - started;
    setStatus(`${options.n} names from ${options.model} in ${ms.toFixed(0)} ms`, "done");
  } catch (err) {
    if (run === runs) setStatus(`error: ${err.message}`, "error");
  }
}

async function main() {
  const params = new URLSearchParams(location.search);
  const models = await (await fetch("models.json")).json();
  for (const { model, file } of models) {
    const option = new Option(model, model);
    option.dataset.file = file;
    $("model").append(option);
  }
  for (const [param, id] of [["model", "model"], ["temperature", "temperature"], ["topk", "topk"], ["seed", "seed"], ["n", "count"]]) {
    if (params.has(param)) $(id).value = params.get(param);
  }
  if (params.has("model") && $("model").value !== params.get("model")) throw new Error(`no model ${params.get("model")}`);
  $("controls").addEventListener("submit", makeNames);
  $("go").disabled = false;
  setStatus("ready", "ready");
  if (params.get("run") === "1") await makeNames();
}

main().catch((err) => setStatus(`error: ${err.message}`, "error"));
