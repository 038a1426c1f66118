// One of quantc's `--format onnx` decoders (onnx/model*.onnx) in onnxruntime-node (CPU EP), fed as
// transformers.js feeds it: input_ids, attention_mask, position_ids where the graph has them, and
// past_key_values.* (empty at the start; the previous call's present.* after).
// `accuracyLevel`: the session's qdq_matmulnbits_accuracy_level (null: the model's own).
import * as ort from 'onnxruntime-node';
import { tensorToFloat32 } from './tensor_util.mjs';

export async function openDecoder(modelPath, { accuracyLevel = '0' } = {}) {
  const options = { executionProviders: ['cpu'] };
  if (accuracyLevel !== null) options.extra = { session: { qdq_matmulnbits_accuracy_level: accuracyLevel } };
  const session = await ort.InferenceSession.create(modelPath, options);
  const pastInputs = session.inputNames.filter((n) => n.startsWith('past_key_values.'));
  const meta = Object.fromEntries(session.inputMetadata.map((m) => [m.name, m]));
  const kvType = meta[pastInputs[0]].type;
  const vocab = session.outputMetadata.find((m) => m.name === 'logits').shape[2];

  function emptyCache() {
    const feeds = {};
    for (const name of pastInputs) {
      const [, kvHeads, , headDim] = meta[name].shape;  // key and value widths may differ (MLA)
      feeds[name] = new ort.Tensor(kvType, kvType === 'float16' ? new Uint16Array(0) : new Float32Array(0), [1, kvHeads, 0, headDim]);
    }
    return feeds;
  }

  // Runs row[from..to) after `cache` (which holds row[0..from)); returns the logits [to - from, vocab]
  // as Float32Array and the cache holding row[0..to).
  async function run(row, from, to, cache) {
    const feeds = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(row.slice(from, to), (x) => BigInt(x)), [1, to - from]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(to).fill(1n), [1, to]),
      ...cache,
    };
    if (session.inputNames.includes('position_ids')) {
      feeds.position_ids = new ort.Tensor('int64', BigInt64Array.from({ length: to - from }, (_, i) => BigInt(from + i)), [1, to - from]);
    }
    const out = await session.run(feeds);
    const next = {};
    for (const name of pastInputs) next[name] = out[name.replace('past_key_values', 'present')];
    return { logits: tensorToFloat32(out.logits.type, out.logits.data), cache: next };
  }

  return { vocab, emptyCache, run };
}
