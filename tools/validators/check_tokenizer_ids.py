#!/usr/bin/env python3
"""Checks quantc's tokenizer against transformers.js on one text file: the id lists must be equal.

  check_tokenizer_ids.py TOKENIZE_MAIN MODEL_DIR TEXT_FILE

TOKENIZE_MAIN is tests/tokenizer/tokenize_main (quantc); the reference is tokenize.mjs beside this
script, which runs @huggingface/transformers (pinned in package.json, installed with `npm ci`)
offline on MODEL_DIR/tokenizer.json. Exits 0 when the ids are identical, 1 when they differ or a
side fails, and 77 (ctest's skip code) only when `node` is not installed.
"""
import json
import pathlib
import shutil
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
SKIP = 77


def run(cmd: list[str], what: str) -> tuple[list[int], float]:
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"FAIL: {what} exited {proc.returncode}: {' '.join(cmd)}\n{proc.stderr[-4000:]}")
    if proc.stderr.strip():
        print(proc.stderr.strip())
    return json.loads(proc.stdout), seconds


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    tokenize_main, model_dir, text_file = sys.argv[1:]
    node = shutil.which("node")
    if node is None:
        print("SKIP: `node` is not installed, so transformers.js cannot check the tokenizer "
              "(tools/setup.sh installs nodejs and npm)")
        return SKIP
    if not (HERE / "node_modules" / "@huggingface" / "transformers").is_dir():
        print(f"FAIL: {HERE}/node_modules lacks @huggingface/transformers; run "
              "`(cd tools/validators && ONNXRUNTIME_NODE_INSTALL=skip npm ci)` (tools/test.sh does)")
        return 1

    ours, our_seconds = run([tokenize_main, str(pathlib.Path(model_dir) / "tokenizer.json"), text_file], "quantc")
    theirs, their_seconds = run([node, str(HERE / "tokenize.mjs"), model_dir, text_file], "transformers.js")
    name = pathlib.Path(text_file).name
    print(f"{name}: quantc {len(ours)} ids ({our_seconds:.2f} s with start-up), "
          f"transformers.js {len(theirs)} ids ({their_seconds:.2f} s with start-up)")
    if ours == theirs:
        print(f"OK: identical ids on {name}")
        return 0
    first = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
    print(f"FAIL: ids differ on {name} from index {first}:\n"
          f"  quantc          {ours[max(0, first - 5):first + 10]}\n"
          f"  transformers.js {theirs[max(0, first - 5):first + 10]}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
