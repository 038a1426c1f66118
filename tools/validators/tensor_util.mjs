// Small helpers the ONNX validators share.

// IEEE half-precision bits (what onnxruntime-node and transformers.js hand back for float16
// tensors on Node 20, which has no Float16Array) decoded to Float32Array.
export function halfToFloat32(bits) {
  const f = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; ++i) {
    const h = Number(bits[i]), s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    f[i] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return f;
}

// A tensor's data as Float32Array, whether it is float32 or float16.
export function tensorToFloat32(type, data) {
  if (type === 'float32') return data;
  if (type === 'float16') return data instanceof Float32Array ? data : halfToFloat32(new Uint16Array(data.buffer, data.byteOffset, data.length));
  throw new Error(`tensor of type ${type}: not a float tensor`);
}

// The largest entry of a logits row, its index and its margin over the runner-up.
export function topTwo(row) {
  let best = -Infinity, second = -Infinity, arg = -1;
  for (let v = 0; v < row.length; ++v) {
    const x = Number(row[v]);
    if (x > best) { second = best; best = x; arg = v; } else if (x > second) second = x;
  }
  return { arg, margin: best - second };
}
