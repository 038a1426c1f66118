// Independent check of quantc's ONNX decoders: runs one with onnxruntime-node (CPU EP) on the
// golden prompts and compares its logits with the goldens transformers computed in fp32.
//   node tools/validators/onnx_logits.mjs MODEL.onnx GOLDEN.safetensors [--tol 1e-3] [--split K]
// Each prompt runs as one batch-1 prefill with an empty KV cache; with --split K, the first K
// tokens run as a prefill and the rest one token at a time through the returned present.* tensors
// (what generation does). Prints one JSON line {max_abs_diff, max_logit, prompts, positions} and
// exits 1 when max |logit - golden| > tol. MatMulNBits runs at accuracy level 0 where the session
// option applies, so quantized graphs are compared at their exact arithmetic.
import { readFileSync } from 'node:fs';
import { openDecoder } from './decoder_session.mjs';

function readSafetensors(path) {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const base = 8 + n;
  const out = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [a, b] = t.data_offsets;
    const bytes = buf.subarray(base + a, base + b);
    const copy = new Uint8Array(bytes).buffer;
    const data = t.dtype === 'F32' ? new Float32Array(copy) : t.dtype === 'I64' ? new BigInt64Array(copy) :
                 t.dtype === 'I32' ? new Int32Array(copy) : null;
    if (!data) throw new Error(`${path}: tensor ${name}: dtype ${t.dtype} not handled`);
    out[name] = { shape: t.shape, data };
  }
  return out;
}

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const [modelPath, goldenPath] = args;
if (!modelPath || !goldenPath) {
  console.error('usage: node onnx_logits.mjs MODEL.onnx GOLDEN.safetensors [--tol 1e-3] [--split K]');
  process.exit(2);
}
const tol = Number(opt('--tol', '1e-3'));
const split = opt('--split', null);

const golden = readSafetensors(goldenPath);
const ids = golden.input_ids, logits = golden.logits;
const [prompts, seq] = ids.shape, vocab = logits.shape[2];
const decoder = await openDecoder(modelPath);

let maxDiff = 0, maxLogit = 0, positions = 0;
for (let p = 0; p < prompts; ++p) {
  const row = ids.data.subarray(p * seq, (p + 1) * seq);
  const chunks = split === null ? [[0, seq]] : [[0, Number(split)], ...Array.from({ length: seq - Number(split) }, (_, i) => [Number(split) + i, Number(split) + i + 1])];
  let cache = decoder.emptyCache();
  for (const [from, to] of chunks) {
    const out = await decoder.run(row, from, to, cache);
    for (let t = from; t < to; ++t) {
      for (let v = 0; v < vocab; ++v) {
        const want = logits.data[(p * seq + t) * vocab + v];
        maxDiff = Math.max(maxDiff, Math.abs(out.logits[(t - from) * vocab + v] - want));
        maxLogit = Math.max(maxLogit, Math.abs(want));
      }
      ++positions;
    }
    cache = out.cache;
  }
}
console.log(JSON.stringify({ model: modelPath, max_abs_diff: maxDiff, max_logit: maxLogit, prompts, positions, tol }));
process.exit(maxDiff <= tol ? 0 : 1);
