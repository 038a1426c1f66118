// The chat page's logic: load the tokenizer and the chosen dtype of the model from this server,
// then answer each prompt with a greedy continuation streamed token by token. With a chat template
// (tokenizer_config.json) the conversation is formatted by it; tiny base models continue raw text.
import { env, AutoTokenizer, AutoModelForCausalLM, TextStreamer } from '/vendor/transformers/transformers.js';

const params = new URLSearchParams(location.search);
const modelName = params.get('model') ?? 'model';
const dtype = params.get('dtype') ?? 'q4';
const maxNewTokens = Number(params.get('tokens') ?? '32');

env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = '/models/';
env.useBrowserCache = false;
// onnxruntime-web's wasm from this server, not a CDN.
env.backends.onnx.wasm.wasmPaths = {
  mjs: '/vendor/ort/ort-wasm-simd-threaded.asyncify.mjs',
  wasm: '/vendor/ort/ort-wasm-simd-threaded.asyncify.wasm',
};

const status = document.getElementById('status');
const log = document.getElementById('log');
const input = document.getElementById('prompt');
const send = document.getElementById('send');
const messages = [];

function addLine(cls, text) {
  const div = document.createElement('div');
  div.className = cls;
  div.textContent = text;
  log.appendChild(div);
  return div;
}

try {
  const t0 = performance.now();
  const tokenizer = await AutoTokenizer.from_pretrained(modelName);
  const model = await AutoModelForCausalLM.from_pretrained(modelName, { dtype, device: 'wasm' });
  status.textContent = `${modelName} (${dtype}, wasm) loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`;
  status.dataset.state = 'ready';
  input.disabled = send.disabled = false;

  document.getElementById('form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    input.disabled = send.disabled = true;
    status.dataset.state = 'generating';
    addLine('user', text);
    const out = addLine('model', '');
    messages.push({ role: 'user', content: text });
    const prompt = tokenizer.chat_template ? tokenizer.apply_chat_template(messages, { tokenize: false, add_generation_prompt: true }) : text;
    const enc = tokenizer(prompt);
    const streamer = new TextStreamer(tokenizer, { skip_prompt: true, callback_function: (piece) => { out.textContent += piece; } });
    const t1 = performance.now();
    const ids = await model.generate({ ...enc, max_new_tokens: maxNewTokens, do_sample: false, streamer });
    const generated = ids.tolist()[0].slice(enc.input_ids.dims[1]).map(Number);
    out.dataset.ids = JSON.stringify(generated);
    messages.push({ role: 'assistant', content: out.textContent });
    const secs = (performance.now() - t1) / 1000;
    status.textContent = `${modelName} (${dtype}, wasm): ${generated.length} tokens in ${secs.toFixed(2)} s`;
    status.dataset.state = 'ready';
    input.disabled = send.disabled = false;
  });
} catch (e) {
  status.textContent = `error: ${e.message ?? e}`;
  status.dataset.state = 'error';
}
