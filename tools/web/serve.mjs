// A static server for the chat page: / -> tools/web, /vendor/transformers -> transformers.js's
// browser bundle, /vendor/ort -> onnxruntime-web's wasm, /models/NAME -> MODELS_DIR/NAME (folders
// written by `quantc convert --format onnx`). Cross-origin isolation headers let onnxruntime-web
// use threads. Local only.
//   node tools/web/serve.mjs MODELS_DIR [PORT=8765]
import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const validators = resolve(here, '../validators/node_modules');
const types = { '.html': 'text/html', '.mjs': 'text/javascript', '.js': 'text/javascript', '.json': 'application/json',
                '.wasm': 'application/wasm', '.onnx': 'application/octet-stream', '.txt': 'text/plain' };

export function serve(modelsDir, port = 8765) {
  const roots = [['/vendor/transformers/', join(validators, '@huggingface/transformers/dist')],
                 ['/vendor/ort/', join(validators, 'onnxruntime-web/dist')],
                 ['/models/', resolve(modelsDir)],
                 ['/', here]];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://localhost').pathname);
    const [prefix, root] = roots.find(([p]) => path.startsWith(p));
    const rel = normalize(path.slice(prefix.length) || 'index.html');
    const file = join(root, rel);
    if (rel.startsWith('..') || !file.startsWith(root)) { res.writeHead(403).end(); return; }
    let size;
    try { const st = statSync(file); if (!st.isFile()) throw new Error(); size = st.size; } catch { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'Content-Type': types[extname(file)] ?? 'application/octet-stream', 'Content-Length': size,
                         'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' });
    createReadStream(file).pipe(res);
  });
  return new Promise((ok) => server.listen(port, '127.0.0.1', () => ok(server)));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [modelsDir, port] = process.argv.slice(2);
  if (!modelsDir) { console.error('usage: node serve.mjs MODELS_DIR [PORT]'); process.exit(2); }
  await serve(modelsDir, Number(port ?? 8765));
  console.log(`http://127.0.0.1:${port ?? 8765}/?model=NAME&dtype=q4`);
}
