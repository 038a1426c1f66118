// Runs quantc's NPU pipeline (`quantc convert --format onnx-qdq`) with onnxruntime-node (CPU EP,
// session.qdq_matmulnbits_accuracy_level = 0), chaining embeddings → context (chunks) → lm_head,
// then iterator steps, exactly as lib/runner/npu_pipeline.h describes the protocol:
//   - `chunk` tokens per context call, a last partial chunk right-padded with token 0;
//   - past_seq_len = cached tokens after the call − 1 (padding included), total_seq_len = that + 1;
//   - position_ids: absolute positions; present.* (uint16) become the next call's past_key_values.*;
//   - a call that would pass the cache's rows first slides it: the oldest rows are dropped.
//   node tools/validators/npu_pipeline.mjs DIR --ids IDS.json [--greedy N] --out OUT.json
// OUT.json: {logits: [[...vocab] per position] (teacher-forced over IDS), greedy: [ids]} — logits
// only with --full-logits, else top1/margin per position.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { topTwo } from './tensor_util.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const dir = args[0];
const ids = JSON.parse(readFileSync(opt('--ids'), 'utf8'));
const greedyN = Number(opt('--greedy', '0'));
const full = args.includes('--full-logits');
const outPath = opt('--out');

const options = { executionProviders: ['cpu'], extra: { session: { qdq_matmulnbits_accuracy_level: '0' } } };
const open = (name) => ort.InferenceSession.create(join(dir, `${name}.onnx`), options);
const [embeddings, context, iterator, lmHead] = await Promise.all(['embeddings', 'context', 'iterator', 'lm_head'].map(open));
const meta = Object.fromEntries(context.inputMetadata.map((m) => [m.name, m]));
const chunk = meta.inputs_embeds.shape[1];
const pastNames = context.inputNames.filter((n) => n.startsWith('past_key_values.'));
const cacheLen = meta[pastNames[0]].shape[2];

function emptyCache() {
  const cache = {};
  for (const n of pastNames) {
    const shape = meta[n].shape;
    cache[n] = new ort.Tensor('uint16', new Uint16Array(shape.reduce((a, b) => a * b, 1)), shape);
  }
  return cache;
}

let past = 0;  // rows in the cache buffer
// Runs `tokens` (<= s of them) at absolute `position`; returns logits rows of the real tokens.
async function step(session, s, tokens, position, cache) {
  if (past + s > cacheLen) {
    const shift = past + s - cacheLen;
    for (const n of pastNames) {
      const [, heads, rows, width] = meta[n].shape;
      const data = new Uint16Array(cache[n].data);  // a copy we own
      for (let h = 0; h < heads; ++h) data.copyWithin(h * rows * width, (h * rows + shift) * width, (h * rows + past) * width);
      cache[n] = new ort.Tensor('uint16', data, meta[n].shape);
    }
    past -= shift;
  }
  const padded = BigInt64Array.from({ length: s }, (_, i) => BigInt(i < tokens.length ? tokens[i] : 0));
  const e = await embeddings.run({ input_ids: new ort.Tensor('int64', padded, [1, s]) });
  const feeds = {
    inputs_embeds: e.inputs_embeds,
    past_seq_len: new ort.Tensor('int32', Int32Array.from([past + s - 1]), [1, 1]),
    total_seq_len: new ort.Tensor('int32', Int32Array.from([past + s]), []),
    position_ids: new ort.Tensor('int64', BigInt64Array.from({ length: s }, (_, j) => BigInt(position + j)), [1, s]),
    ...cache,
  };
  const out = await session.run(feeds);
  for (const n of pastNames) cache[n] = out[n.replace('past_key_values', 'present')];
  past += tokens.length;
  const l = await lmHead.run({ hidden_states: out.hidden_states });
  const vocab = l.logits.dims[2];
  return { vocab, data: l.logits.data.subarray(0, tokens.length * vocab) };
}

const result = { chunk, cache: cacheLen, top1: [], margin: [], logits: full ? [] : undefined, greedy: [] };
let cache = emptyCache();
for (let at = 0; at < ids.length; at += chunk) {
  const part = ids.slice(at, at + chunk);
  const { vocab, data } = await step(context, chunk, part, at, cache);
  for (let t = 0; t < part.length; ++t) {
    const row = data.subarray(t * vocab, (t + 1) * vocab);
    const { arg, margin } = topTwo(row);
    result.top1.push(arg);
    result.margin.push(margin);
    if (full) result.logits.push(Array.from(row));
  }
}
let next = result.top1[result.top1.length - 1];
for (let i = 0; i < greedyN; ++i) {
  result.greedy.push(next);
  if (i + 1 === greedyN) break;
  const { data } = await step(iterator, 1, [next], ids.length + i, cache);
  next = topTwo(data).arg;
}
writeFileSync(outPath, JSON.stringify(result));
