// quantc's NPU pipeline (`quantc convert --format onnx-qdq`) in onnxruntime-node (CPU EP), chaining
// embeddings → context (chunks) / iterator → lm_head exactly as lib/runner/npu_pipeline.h
// describes the protocol:
//   - `chunk` tokens per context call, a last partial chunk right-padded with token 0;
//   - past_seq_len = cached tokens after the call − 1 (padding included), total_seq_len = that + 1;
//   - position_ids: absolute positions; present.* (uint16) become the next call's past_key_values.*;
//   - a call that would pass the cache's rows first slides it: the oldest rows are dropped.
// `accuracyLevel`: the session's qdq_matmulnbits_accuracy_level (null: the models' own).
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';

export async function openNpuPipeline(dir, { accuracyLevel = '0' } = {}) {
  const options = { executionProviders: ['cpu'] };
  if (accuracyLevel !== null) options.extra = { session: { qdq_matmulnbits_accuracy_level: accuracyLevel } };
  const open = (name) => ort.InferenceSession.create(join(dir, `${name}.onnx`), options);
  const [embeddings, context, iterator, lmHead] = await Promise.all(['embeddings', 'context', 'iterator', 'lm_head'].map(open));
  const meta = Object.fromEntries(context.inputMetadata.map((m) => [m.name, m]));
  const chunk = meta.inputs_embeds.shape[1];
  const pastNames = context.inputNames.filter((n) => n.startsWith('past_key_values.'));
  const cacheLen = meta[pastNames[0]].shape[2];
  const vocab = lmHead.outputMetadata.find((m) => m.name === 'logits').shape[2];

  let past = 0;  // rows in the cache buffer
  let cache = {};
  function reset() {
    past = 0;
    cache = {};
    for (const n of pastNames) {
      const shape = meta[n].shape;
      cache[n] = new ort.Tensor('uint16', new Uint16Array(shape.reduce((a, b) => a * b, 1)), shape);
    }
  }

  // Runs `tokens` (<= s of them) at absolute `position`; returns the logits rows of the real tokens.
  async function step(session, s, tokens, position) {
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
    return l.logits.data.subarray(0, tokens.length * vocab);
  }

  reset();
  return {
    chunk, cacheLen, vocab, reset,
    // Logits rows of `ids` at positions `position`.. (context calls of `chunk` tokens).
    async prefill(ids, position = 0) {
      const rows = new Float32Array(ids.length * vocab);
      for (let at = 0; at < ids.length; at += chunk) {
        const part = ids.slice(at, at + chunk);
        rows.set(await step(context, chunk, part, position + at), at * vocab);
      }
      return rows;
    },
    // One iterator call: the logits row of `token` at `position`.
    decode: (token, position) => step(iterator, 1, [token], position),
  };
}
