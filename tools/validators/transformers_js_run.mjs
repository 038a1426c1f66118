// Independent consumer of quantc's `--format onnx` folders: @huggingface/transformers (transformers.js,
// pinned in package.json, running onnxruntime-node on the CPU) loads the model offline from the
// folder, for each requested dtype, and reports
//   greedy:  for each prompt, the ids of a greedy continuation (generate, do_sample false);
//   top1/margin: teacher-forced over the given ids, each position's top-1 id and its margin.
//   node tools/validators/transformers_js_run.mjs MODEL_DIR --dtypes fp32,q4 --prompts P.json
//        [--ids IDS.json --positions 256] [--new-tokens 32] --out OUT.json
// P.json is a JSON array of prompt strings; IDS.json a JSON array of token ids. OUT.json maps each
// dtype to {greedy: [[ids]...], top1: [...], margin: [...]} or {error: message}. Nothing is fetched.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { env, AutoTokenizer, AutoModelForCausalLM, Tensor } from '@huggingface/transformers';
import { tensorToFloat32, topTwo } from './tensor_util.mjs';

env.allowRemoteModels = false;
env.allowLocalModels = true;

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const modelDir = resolve(args[0] ?? '');
const dtypes = opt('--dtypes', 'fp32').split(',');
const prompts = JSON.parse(readFileSync(opt('--prompts'), 'utf8'));
const idsPath = opt('--ids', null);
const positions = Number(opt('--positions', '256'));
const newTokens = Number(opt('--new-tokens', '32'));
const outPath = opt('--out');
if (!args[0] || !outPath) {
  console.error('usage: node transformers_js_run.mjs MODEL_DIR --dtypes fp32,q4 --prompts P.json [--ids IDS.json] --out OUT.json');
  process.exit(2);
}

const tokenizer = await AutoTokenizer.from_pretrained(modelDir, { local_files_only: true });
const results = {};
for (const dtype of dtypes) {
  try {
    const model = await AutoModelForCausalLM.from_pretrained(modelDir, {
      dtype, device: 'cpu', local_files_only: true,
      session_options: { extra: { session: { qdq_matmulnbits_accuracy_level: '0' } } },
    });
    const r = { greedy: [] };
    for (const prompt of prompts) {
      const enc = tokenizer(prompt);
      const out = await model.generate({ ...enc, max_new_tokens: newTokens, do_sample: false });
      const all = Array.from(out.tolist()[0], Number);
      r.greedy.push(all.slice(enc.input_ids.dims[1]));
    }
    if (idsPath) {
      const ids = JSON.parse(readFileSync(idsPath, 'utf8')).slice(0, positions);
      const input_ids = new Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]);
      const attention_mask = new Tensor('int64', new BigInt64Array(ids.length).fill(1n), [1, ids.length]);
      const { logits } = await model({ input_ids, attention_mask });
      const vocab = logits.dims[2];
      const data = tensorToFloat32(logits.type, logits.data);
      r.top1 = []; r.margin = [];
      for (let t = 0; t < ids.length; ++t) {
        const { arg, margin } = topTwo(data.subarray(t * vocab, (t + 1) * vocab));
        r.top1.push(arg); r.margin.push(margin);
      }
    }
    results[dtype] = r;
    await model.dispose();
  } catch (e) {
    results[dtype] = { error: String(e && e.message || e) };
  }
}
writeFileSync(outPath, JSON.stringify(results));
