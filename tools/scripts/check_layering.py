#!/usr/bin/env python3
"""Checks every #include against the layering table of docs/architecture.md (our layering_check).

formats know bytes, passes know math, the runner knows execution, tools know the user: a file may
include only the layers listed for its folder. Prints each violation as FILE:LINE and exits 1.
"""
import os
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]

BASE = ["lib/support"]
# folder prefix -> project folders it may include (its own folder is always allowed)
ALLOWED = {
    "lib/support": [],
    "lib/dtypes": BASE,
    "lib/tensor": BASE + ["lib/dtypes"],
    "lib/kernels": BASE + ["lib/dtypes", "lib/tensor"],
    "lib/ir": BASE + ["lib/dtypes", "lib/tensor"],
    "lib/arch": BASE + ["lib/dtypes", "lib/tensor", "lib/ir"],
    "lib/pass": BASE + ["lib/dtypes", "lib/tensor", "lib/ir"],
    "lib/tokenizer": BASE,
    "lib/cuda": BASE + ["lib/dtypes", "lib/tensor", "lib/kernels"],
    "lib/runner": BASE + ["lib/dtypes", "lib/tensor", "lib/ir", "lib/arch", "lib/kernels", "lib/tokenizer", "lib/cuda"],
    "passes": BASE + ["lib/dtypes", "lib/tensor", "lib/ir", "lib/arch", "lib/kernels", "lib/pass", "lib/runner"],
    "formats": BASE + ["lib/dtypes", "lib/tensor", "lib/ir"],
    "tools": None,  # everything
    "tests": None,
}
# third-party headers that only some folders may use
THIRD_PARTY = {
    "CLI/": ["tools"],
    "onnx/": ["formats/onnx", "tests/formats"],  # tests parse what the writer wrote
    "google/protobuf": ["formats/onnx", "tests/formats"],
}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^">]+)[">]')


def layer_of(rel: str) -> str:
    best = ""
    for prefix in ALLOWED:
        if (rel == prefix or rel.startswith(prefix + "/")) and len(prefix) > len(best):
            best = prefix
    return best


SOURCE_DIRS = ["lib", "passes", "formats", "tools", "tests"]


def source_files():
    """The C++ sources under the source folders. Walks only those (never build trees or
    node_modules, where other tests create and delete files while this one runs)."""
    for top in SOURCE_DIRS:
        for root, dirs, files in os.walk(ROOT / top):
            dirs[:] = sorted(d for d in dirs if d != "node_modules" and not d.startswith("."))
            for f in sorted(files):
                if f.endswith((".h", ".cc", ".cu", ".hpp", ".cpp")):
                    yield pathlib.Path(root) / f


def main() -> int:
    errors = []
    for path in source_files():
        rel = path.relative_to(ROOT).as_posix()
        layer = layer_of(rel)
        if not layer:
            continue
        own = "/".join(rel.split("/")[:2]) if rel.startswith("lib/") else rel.split("/")[0]
        for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            inc = m.group(1)
            for lib, users in THIRD_PARTY.items():
                if inc.startswith(lib) and not any(rel.startswith(u + "/") for u in users):
                    errors.append(f"{rel}:{lineno}: <{inc}> is only for {', '.join(users)}")
            if ALLOWED[layer] is None:
                continue
            target = layer_of(inc)
            if not target or inc.startswith(own + "/"):
                continue
            if not any(inc.startswith(a + "/") for a in ALLOWED[layer]):
                errors.append(f"{rel}:{lineno}: {layer} may not include {inc} (docs/architecture.md)")
    for e in errors:
        print(e)
    if errors:
        print(f"check_layering: {len(errors)} violation(s)")
        return 1
    print("check_layering: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
