// The window server behind `quantc validate`'s ONNX candidates: runs windows of token ids through
// one ONNX candidate in onnxruntime-node (CPU EP) as its users run it (each model's own MatMulNBits
// accuracy level) and hands back their logits.
//   node tools/validators/window_logits.mjs decoder MODEL.onnx   (a --format onnx decoder: one prefill per window)
//   node tools/validators/window_logits.mjs npu DIR              (a --format onnx-qdq folder: context chunks)
// Protocol (little-endian, on stdin/stdout): the server first writes int32 vocab; then, for each
// request `int32 n, n × int32 ids`, it writes n × vocab float32 logits, every window from an empty
// cache. It exits 0 at end of input; errors go to stderr with a non-zero exit.
import { readSync, writeSync } from 'node:fs';
import { openDecoder } from './decoder_session.mjs';
import { openNpuPipeline } from './npu_session.mjs';

function readExactly(n) {
  const buf = Buffer.alloc(n);
  let got = 0;
  while (got < n) {
    let k;
    try {
      k = readSync(0, buf, got, n - got, null);
    } catch (e) {
      if (e.code === 'EAGAIN') continue;
      throw e;
    }
    if (k === 0) return got === 0 ? null : (() => { throw new Error('input ended inside a request'); })();
    got += k;
  }
  return buf;
}

function writeAll(bytes) {
  for (let at = 0; at < bytes.length;) {
    try {
      at += writeSync(1, bytes, at, bytes.length - at);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
    }
  }
}

const [kind, path] = process.argv.slice(2);
let vocab, logitsOf;
if (kind === 'decoder') {
  const decoder = await openDecoder(path, { accuracyLevel: null });
  vocab = decoder.vocab;
  logitsOf = async (ids) => (await decoder.run(ids, 0, ids.length, decoder.emptyCache())).logits;
} else if (kind === 'npu') {
  const npu = await openNpuPipeline(path, { accuracyLevel: null });
  vocab = npu.vocab;
  logitsOf = async (ids) => { npu.reset(); return npu.prefill(Array.from(ids)); };
} else {
  console.error('usage: node window_logits.mjs decoder MODEL.onnx | npu DIR');
  process.exit(2);
}
writeAll(Buffer.from(Int32Array.of(vocab).buffer));
for (;;) {
  const head = readExactly(4);
  if (head === null) break;
  const n = head.readInt32LE(0);
  const body = readExactly(4 * n);
  const ids = new Int32Array(body.buffer, body.byteOffset, n);
  const logits = Float32Array.from(await logitsOf(ids));
  if (logits.length !== n * vocab) throw new Error(`${path}: ${logits.length} logits for ${n} tokens × ${vocab}`);
  writeAll(Buffer.from(logits.buffer, logits.byteOffset, logits.byteLength));
}
