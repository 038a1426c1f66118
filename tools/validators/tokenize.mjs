// Independent tokenizer reference: encodes a text file with @huggingface/transformers (transformers.js,
// pinned in package.json) from a local tokenizer.json, offline, and prints the ids as a JSON array.
//   node tools/validators/tokenize.mjs MODEL_DIR TEXT_FILE [--no-special]
// MODEL_DIR holds tokenizer.json and, optionally, tokenizer_config.json. Nothing is fetched: the
// tokenizer is built from the parsed files, and remote loading is switched off besides.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { env, PreTrainedTokenizer } from '@huggingface/transformers';

env.allowRemoteModels = false;

const [modelDir, textFile, ...flags] = process.argv.slice(2);
if (!modelDir || !textFile) {
  console.error('usage: node tokenize.mjs MODEL_DIR TEXT_FILE [--no-special]');
  process.exit(2);
}
const tokenizerJson = JSON.parse(readFileSync(join(modelDir, 'tokenizer.json'), 'utf8'));
const configPath = join(modelDir, 'tokenizer_config.json');
const tokenizerConfig = existsSync(configPath) ? JSON.parse(readFileSync(configPath, 'utf8')) : {};
const tokenizer = new PreTrainedTokenizer(tokenizerJson, tokenizerConfig);

const text = readFileSync(textFile, 'utf8');
const ids = tokenizer.encode(text, { add_special_tokens: !flags.includes('--no-special') });
process.stdout.write(JSON.stringify(ids) + '\n');
