// Runs quantc's NPU pipeline (`quantc convert --format onnx-qdq`) with onnxruntime-node (CPU EP,
// session.qdq_matmulnbits_accuracy_level = 0) through npu_session.mjs: the prompt through the
// context model chunk by chunk, then iterator steps.
//   node tools/validators/npu_pipeline.mjs DIR --ids IDS.json [--greedy N] [--full-logits] --out OUT.json
// OUT.json: {chunk, cache, top1, margin (per position, teacher-forced over IDS), greedy: [ids],
// logits: [[...vocab] per position] only with --full-logits}.
import { readFileSync, writeFileSync } from 'node:fs';
import { openNpuPipeline } from './npu_session.mjs';
import { topTwo } from './tensor_util.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const dir = args[0];
const ids = JSON.parse(readFileSync(opt('--ids'), 'utf8'));
const greedyN = Number(opt('--greedy', '0'));
const full = args.includes('--full-logits');
const outPath = opt('--out');

const npu = await openNpuPipeline(dir);
const result = { chunk: npu.chunk, cache: npu.cacheLen, top1: [], margin: [], logits: full ? [] : undefined, greedy: [] };
const rows = await npu.prefill(ids);
for (let t = 0; t < ids.length; ++t) {
  const row = rows.subarray(t * npu.vocab, (t + 1) * npu.vocab);
  const { arg, margin } = topTwo(row);
  result.top1.push(arg);
  result.margin.push(margin);
  if (full) result.logits.push(Array.from(row));
}
let next = result.top1[result.top1.length - 1];
for (let i = 0; i < greedyN; ++i) {
  result.greedy.push(next);
  if (i + 1 === greedyN) break;
  next = topTwo(await npu.decode(next, ids.length + i)).arg;
}
writeFileSync(outPath, JSON.stringify(result));
