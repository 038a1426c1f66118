// llama.cpp CPU speed on a GGUF file, for comparing quantc's runner with it (node-llama-cpp's prebuilt
// CPU binary, pinned in package.json; nothing is downloaded or built).
//
//   node tools/validators/llama_cpp_bench.mjs --model F.gguf [--model G.gguf ...] [--threads 1]
//        [--prefill 128] [--decode 64] [--reps 3] [--ids IDS.json] [--kv-type f16|f32]
//        [--flash-attention auto|on|off] [--out RESULT.json]
//
// Per repetition, on a fresh sequence: prefill = one batch of --prefill tokens with logits for the
// last position only (like llama-bench's pp); decode = --decode single-token steps, each feeding
// back the argmax of the previous step's logits (like llama-bench's tg, plus the argmax). Token ids
// come from --ids (its first --prefill entries) or, by default, from a fixed English text tokenized
// by the model itself. One untimed warm-up run of 8 + 4 tokens comes first. tokens/s are reported
// as the median over --reps, with every repetition's value; times are wall clock.
// Defaults follow llama.cpp's context defaults (F16 KV cache, flash attention "auto") so that the
// numbers are what a llama.cpp user gets. Output: one JSON object per model (an array for several),
// on stdout and in --out:
//   {model, llama_cpp_version, node_llama_cpp_version, threads, prefill_tokens, decode_tokens,
//    prefill_tok_s, decode_tok_s, prefill_tok_s_all, decode_tok_s_all, load_s, kv_type,
//    flash_attention, cpu}
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', multiple: true },
    threads: { type: 'string', default: '1' },
    prefill: { type: 'string', default: '128' },
    decode: { type: 'string', default: '64' },
    reps: { type: 'string', default: '3' },
    ids: { type: 'string' },
    'kv-type': { type: 'string', default: 'f16' },
    'flash-attention': { type: 'string', default: 'auto' },
    out: { type: 'string' },
  },
  strict: true,
});
if (!args.model) {
  console.error('usage: node llama_cpp_bench.mjs --model F.gguf [--model ...] [--threads 1] [--prefill 128] ' +
    '[--decode 64] [--reps 3] [--ids IDS.json] [--kv-type f16|f32] [--flash-attention auto|on|off] [--out RESULT.json]');
  process.exit(2);
}
const intArg = (name, min) => {
  const v = Number(args[name]);
  if (!Number.isInteger(v) || v < min) { console.error(`llama_cpp_bench: --${name} must be an integer >= ${min}`); process.exit(2); }
  return v;
};
const threads = intArg('threads', 1);
const nPrefill = intArg('prefill', 1);
const nDecode = intArg('decode', 0);
const reps = intArg('reps', 1);
const kvType = args['kv-type'].toUpperCase();
if (kvType !== 'F32' && kvType !== 'F16') { console.error('llama_cpp_bench: --kv-type must be f16 or f32'); process.exit(2); }
const fa = { auto: 'auto', on: true, off: false }[args['flash-attention']];
if (fa === undefined) { console.error('llama_cpp_bench: --flash-attention must be auto, on or off'); process.exit(2); }

let givenIds = null;
if (args.ids) {
  givenIds = JSON.parse(readFileSync(args.ids, 'utf8'));
  if (!Array.isArray(givenIds) || givenIds.length < nPrefill) {
    console.error(`llama_cpp_bench: --ids must hold a JSON array of at least --prefill (${nPrefill}) token ids`);
    process.exit(2);
  }
}
const TEXT = 'The quick brown fox jumps over the lazy dog. A compiler turns model checkpoints into files ' +
  'that an inference engine can load, and a benchmark measures how fast that engine reads prompts and ' +
  'writes new tokens, one after another, on a small machine with two cores. ';

const logs = [];
const llama = await getLlama({
  gpu: false, build: 'never', skipDownload: true, usePrebuiltBinaries: true, progressLogs: false,
  maxThreads: threads, logLevel: LlamaLogLevel.warn,
  logger: (level, message) => { logs.push(`${level}: ${message.trim()}`); if (logs.length > 200) logs.shift(); },
});
const nlcVersion = JSON.parse(readFileSync(new URL('../package.json', import.meta.resolve('node-llama-cpp')), 'utf8')).version;
const now = () => Number(process.hrtime.bigint()) / 1e9;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const round = (x) => +x.toFixed(2);
// temperature 0 (the default) = llama.cpp's greedy sampler: an argmax over the raw logits, no sort.
const argmaxOpts = { generateNext: { token: true, options: { temperature: 0 } } };
const top1 = (res) => res.next.token;

async function run(seq, prompt, decodeSteps) {
  await seq.clearHistory();
  const items = prompt.map((t, i) => (i === prompt.length - 1 ? [t, argmaxOpts] : t));
  const t0 = now();
  const out = await seq.controlledEvaluate(items);
  const t1 = now();
  let next = top1(out[prompt.length - 1]);
  for (let i = 0; i < decodeSteps; i++) {
    const [res] = await seq.controlledEvaluate([[next, argmaxOpts]]);
    next = top1(res);
  }
  const t2 = now();
  return { prefill: t1 - t0, decode: t2 - t1 };
}

// After a failed load node-llama-cpp's Llama instance may hang (see llama_cpp_logits.mjs): the
// remaining models then run in a fresh process, and a drained event loop counts as a failure.
let finished = false;
process.on('beforeExit', () => {
  if (!finished) { console.error('llama_cpp_bench: node-llama-cpp stopped without finishing'); process.exit(1); }
});
function runRestInChild(rest) {
  const dir = mkdtempSync(join(tmpdir(), 'llama_cpp_bench-'));
  const out = join(dir, 'rest.json');
  const childArgs = [fileURLToPath(import.meta.url), ...rest.flatMap((m) => ['--model', m]), '--threads', String(threads),
    '--prefill', String(nPrefill), '--decode', String(nDecode), '--reps', String(reps), '--kv-type', kvType.toLowerCase(),
    '--flash-attention', args['flash-attention'], ...(args.ids ? ['--ids', args.ids] : []), '--out', out];
  const r = spawnSync(process.execPath, childArgs, { stdio: ['ignore', 'ignore', 'inherit'] });
  let got = [];
  try { got = JSON.parse(readFileSync(out, 'utf8')); } catch { /* reported below */ }
  rmSync(dir, { recursive: true, force: true });
  if (!Array.isArray(got)) got = [got];
  if (got.length !== rest.length) {
    return { ok: false, results: rest.map((m) => ({ model: resolve(m), error: `not measured: the child process exited with ${r.status ?? r.signal}` })) };
  }
  return { ok: r.status === 0, results: got };
}

const results = [];
let failed = false;
for (let mi = 0; mi < args.model.length; mi++) {
  const modelPath = args.model[mi];
  let model, context, loadFailed = false;
  try {
    const tl = now();
    logs.length = 0;
    try {
      model = await llama.loadModel({ modelPath: resolve(modelPath), gpuLayers: 0, ignoreMemorySafetyChecks: true });
    } catch (err) {
      loadFailed = true;
      const errors = logs.filter((l) => l.startsWith('error:')).map((l) => l.slice(7));
      const why = errors.find((l) => l.includes('error loading model:'))?.replace(/^.*error loading model:\s*/, '') ?? errors[0];
      throw new Error(`failed to load: ${(err?.message ?? String(err)).split('\n')[0]}${why ? `: ${why}` : ''}`);
    }
    const loadS = now() - tl;
    let prompt = givenIds?.slice(0, nPrefill);
    if (!prompt) {
      const unit = model.tokenize(TEXT);
      prompt = [];
      while (prompt.length < nPrefill) prompt.push(...unit);
      prompt = prompt.slice(0, nPrefill);
    }
    context = await model.createContext({
      contextSize: nPrefill + nDecode + 8, batchSize: nPrefill, sequences: 1, threads,
      flashAttention: fa, experimentalKvCacheKeyType: kvType, experimentalKvCacheValueType: kvType,
      ignoreMemorySafetyChecks: true, failedCreationRemedy: false,
    });
    const seq = context.getSequence();
    await run(seq, prompt.slice(0, Math.min(8, nPrefill)), Math.min(4, nDecode));  // warm-up
    const pp = [], tg = [];
    for (let r = 0; r < reps; r++) {
      const t = await run(seq, prompt, nDecode);
      pp.push(nPrefill / t.prefill);
      if (nDecode > 0) tg.push(nDecode / t.decode);
    }
    results.push({
      model: resolve(modelPath), llama_cpp_version: llama.llamaCppRelease.release, node_llama_cpp_version: nlcVersion,
      threads, prefill_tokens: nPrefill, decode_tokens: nDecode,
      prefill_tok_s: round(median(pp)), decode_tok_s: nDecode > 0 ? round(median(tg)) : null,
      prefill_tok_s_all: pp.map(round), decode_tok_s_all: tg.map(round), load_s: +loadS.toFixed(3),
      kv_type: kvType, flash_attention: context.flashAttention, cpu: llama.systemInfo,
    });
  } catch (err) {
    failed = true;
    const error = (err?.message ?? String(err)).split('\n')[0];
    console.error(`llama_cpp_bench: ${modelPath}: ${error}`);
    results.push({ model: resolve(modelPath), error });
  } finally {
    await context?.dispose();
    await model?.dispose();
  }
  if (loadFailed && mi + 1 < args.model.length) {
    const rest = runRestInChild(args.model.slice(mi + 1));
    results.push(...rest.results);
    if (!rest.ok) failed = true;
    break;
  }
}

const json = JSON.stringify(results.length === 1 ? results[0] : results);
process.stdout.write(json + '\n');
if (args.out) writeFileSync(args.out, json + '\n');
finished = true;
process.exit(failed ? 1 : 0);  // no llama.dispose(): it may never resolve after a failed load
