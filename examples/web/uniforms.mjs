// mmzoo's uniforms (docs/generate.md, "mmzoo's uniforms"), so that the page draws the
// names `mmzoo sample FILE --seed S` prints. splitmix64 wraps at 2^64: BigInt does that
// exactly (a JS number would lose bits past 2^53).

const MASK = (1n << 64n) - 1n;

export function splitmix64(x) {
  let z = (x + 0x9e3779b97f4a7c15n) & MASK;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
  return z ^ (z >> 31n);
}

// The seed's key: negative seeds wrap as Python's `seed & 0xFFFFFFFFFFFFFFFF` does.
export function seedKey(seed) {
  return splitmix64(BigInt.asUintN(64, BigInt(seed)));
}

// Item i's uniforms for tokens 0..length-1: (splitmix64(item ^ t) >> 40) / 2^24, exact in float32.
export function itemUniforms(key, i, length) {
  const item = splitmix64(key ^ ((BigInt(i) * 0x100000001b3n) & MASK));
  const out = new Float32Array(length);
  for (let t = 0; t < length; t++) out[t] = Number(splitmix64(item ^ BigInt(t)) >> 40n) / 16777216;
  return out;
}

// Rows of token ids (then 0s) -> strings, with the vocabulary the graph outputs.
export function decode(tokens, width, vocab) {
  const items = [];
  for (let row = 0; row * width < tokens.length; row++) {
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
