#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/), small files derived from
the fixtures in testdata/. Run again after changing it; the output is deterministic.

The binary formats are written here by hand (no safetensors/gguf package needed), so a seed does
not depend on the writers under test."""
import json
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parents[2]
TESTDATA = ROOT / "testdata"
CORPUS = pathlib.Path(__file__).resolve().parent / "corpus"
SEP = b"\n--8<--\n"  # tests/fuzz/fuzz_input.h: kPartSeparator


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data if isinstance(data, bytes) else data.encode())


# ---- safetensors -------------------------------------------------------------------------------

def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape, data bytes)] -> file bytes (header padded to 8 bytes)."""
    header, offset = {}, 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(t[3] for t in tensors)


def pattern(n, seed=1):
    return bytes((i * 13 + seed) & 0xFF for i in range(n))


def safetensors_seeds():
    # Names from the fixtures (tiny-llama-bf16, tiny-llama-fp8), shapes shrunk to a few elements.
    bf16 = safetensors([("model.norm.weight", "BF16", [4], pattern(8)),
                        ("lm_head.weight", "F32", [2, 2], struct.pack("<4f", 1, -2, 0.5, 3))],
                       {"format": "pt"})
    write("safetensors_fuzz", "single_bf16_f32.safetensors", bf16)
    fp8_tensors = [("model.layers.0.mlp.down_proj.weight", "F8_E4M3", [2, 4], pattern(8, 3)),
                   ("model.layers.0.mlp.down_proj.weight_scale_inv", "F32", [1, 1], struct.pack("<f", 0.25)),
                   ("model.embed_tokens.weight", "F16", [2, 1], pattern(4, 5)),
                   ("mask", "BOOL", [3], b"\x00\x01\x00"), ("ids", "I64", [1], struct.pack("<q", -7)),
                   ("empty", "U8", [0], b"")]
    shard = safetensors(fp8_tensors)
    index = {"metadata": {"total_size": len(shard)},
             "weight_map": {t[0]: "model.safetensors" for t in fp8_tensors}}
    write("safetensors_fuzz", "indexed_fp8.txt", json.dumps(index, indent=2).encode() + SEP + shard)
    write("safetensors_fuzz", "empty_header.safetensors", safetensors([]))


# ---- config.json -------------------------------------------------------------------------------

def config_seeds():
    # One of each rope / attention / MoE form the fixtures have.
    for model in ["tiny-llama-fp8", "tiny-qwen2-bf16", "tiny-deepseek-v3-fp4", "tiny-deepseek-v3-yarn"]:
        write("config_fuzz", f"{model}.json", (TESTDATA / model / "config.json").read_bytes())
    # The quantc block (rotate r4) on a dense model.
    config = json.loads((TESTDATA / "tiny-qwen2-bf16" / "config.json").read_text())
    config["quantc"] = {"online_hadamard": {"down_proj": {"size": 768}}}
    write("config_fuzz", "qwen2_online_hadamard.json", json.dumps(config, indent=2))


# ---- tokenizer.json ----------------------------------------------------------------------------

# A byte-level BPE over a, b, c and space (as in tests/tokenizer/tokenizer_test.cc SyntheticJson).
TINY_VOCAB = {"a": 0, "b": 1, "c": 2, "\u0120": 3, "ab": 4, "abc": 5, "\u0120a": 6, "bc": 7, "\u00c3": 20, "\u00a9": 21}


def tiny_tokenizer(**overrides):
    tok = {"version": "1.0", "added_tokens": [], "normalizer": {"type": "NFC"},
           "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
           "post_processor": None,
           "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
           "model": {"type": "BPE", "vocab": TINY_VOCAB, "merges": ["a b", "ab c", "\u0120 a"]}}
    tok.update(overrides)
    return json.dumps(tok, ensure_ascii=False).encode()


def tokenizer_json_seeds():
    fixture = json.loads((TESTDATA / "tiny-qwen2-bf16" / "tokenizer.json").read_text())
    write("tokenizer_json_fuzz", "byte_level.txt", tiny_tokenizer() + SEP + "abc ab a\u00e9".encode())
    # The fixture's pre-tokenizer (Qwen2's Split regex, then ByteLevel) and its added tokens, with
    # the tiny vocabulary.
    added = [{"id": 30, "content": "<|endoftext|>", "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True},
             {"id": 31, "content": " x", "single_word": True, "lstrip": True, "rstrip": True,
              "normalized": True, "special": False}]
    qwen_like = tiny_tokenizer(added_tokens=added, pre_tokenizer=fixture["pre_tokenizer"])
    write("tokenizer_json_fuzz", "qwen2_split_added.txt",
          qwen_like + SEP + (TESTDATA / "tiny-qwen2-bf16" / "tokenizer_config.json").read_bytes() + SEP +
          "It's 2024: abc<|endoftext|> x ab\r\n\u4f60\u597d".encode())
    # TemplateProcessing and merges as pairs, a Sequence normalizer, Split with a String pattern.
    bos = [{"id": 40, "content": "<s>", "special": True, "normalized": False, "lstrip": False, "rstrip": False,
            "single_word": False}]
    templated = tiny_tokenizer(
        added_tokens=bos,
        normalizer={"type": "Sequence", "normalizers": [{"type": "NFKC"}]},
        pre_tokenizer={"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"String": "c"}, "behavior": "MergedWithPrevious", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": False}]},
        post_processor={"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                                                 {"Sequence": {"id": "A", "type_id": 0}}],
                        "special_tokens": {"<s>": {"id": "<s>", "ids": [40], "tokens": ["<s>"]}}},
        model={"type": "BPE", "vocab": TINY_VOCAB, "merges": [["a", "b"], ["ab", "c"], ["\u0120", "a"]],
               "ignore_merges": True})
    write("tokenizer_json_fuzz", "template_processing.txt", templated + SEP + b"abcabc cab")
    config = json.dumps({"bos_token": "<s>", "eos_token": None, "add_bos_token": True}).encode()
    write("tokenizer_json_fuzz", "add_bos_token.txt", tiny_tokenizer(added_tokens=bos) + SEP + config + SEP + b"ab")


def gguf_vocab_seeds():
    # Tokenizers whose pre-tokenizer llama.cpp names (Qwen2's Split regex; DeepSeek-V3's three), so
    # the reader gets past the name check into tokens, added tokens, merges and special ids.
    fixture = json.loads((TESTDATA / "tiny-qwen2-bf16" / "tokenizer.json").read_text())
    added = [{"id": 30, "content": "<|endoftext|>", "special": True},
             {"id": 31, "content": "<|im_start|>", "special": False}]
    qwen_like = tiny_tokenizer(added_tokens=added, pre_tokenizer=fixture["pre_tokenizer"])
    config = json.dumps({"bos_token": None, "eos_token": "<|endoftext|>", "add_bos_token": False,
                         "chat_template": "{{ messages }}"}).encode()
    write("gguf_vocab_fuzz", "qwen2_with_config.txt", qwen_like + SEP + config)
    pairs = tiny_tokenizer(added_tokens=added, pre_tokenizer=fixture["pre_tokenizer"],
                           model={"type": "BPE", "vocab": TINY_VOCAB, "merges": [["a", "b"], ["ab", "c"]]})
    write("gguf_vocab_fuzz", "qwen2_merge_pairs.txt", pairs)


def tokenizer_encode_seeds():
    # Lines of the fixture texts, the special tokens, and non-Latin scripts (test cases of
    # tests/tokenizer/tokenizer_test.cc).
    write("tokenizer_encode_fuzz", "valid_start.txt", (TESTDATA / "valid.txt").read_text()[:2000])
    write("tokenizer_encode_fuzz", "chat.txt", "<|im_start|>user\nHi there!<|im_end|>\n<|endoftext|>")
    write("tokenizer_encode_fuzz", "scripts.txt",
          "h\u00e9llo w\u00f6rld 123 don't  \n\n  x Cafe\u0301 \u4f60\u597d\uff0c\U0001F642 ok\t\r\n$3.50!")


# ---- GGUF --------------------------------------------------------------------------------------

GGUF_U8, GGUF_I8, GGUF_U16, GGUF_I16, GGUF_U32, GGUF_I32, GGUF_F32, GGUF_BOOL, GGUF_STRING, GGUF_ARRAY, \
    GGUF_U64, GGUF_I64, GGUF_F64 = range(13)
SCALAR_FORMAT = {GGUF_U8: "<B", GGUF_I8: "<b", GGUF_U16: "<H", GGUF_I16: "<h", GGUF_U32: "<I", GGUF_I32: "<i",
                 GGUF_F32: "<f", GGUF_BOOL: "<?", GGUF_U64: "<Q", GGUF_I64: "<q", GGUF_F64: "<d"}
GGML_F32, GGML_F16, GGML_Q8_0, GGML_BF16 = 0, 1, 8, 30
TYPE_BYTES = {GGML_F32: (1, 4), GGML_F16: (1, 2), GGML_BF16: (1, 2), GGML_Q8_0: (32, 34)}  # (block, bytes)


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_value(vtype, value):
    if vtype == GGUF_STRING:
        return gguf_string(value)
    return struct.pack(SCALAR_FORMAT[vtype], value)


def kv(key, vtype, value):
    return gguf_string(key) + struct.pack("<I", vtype) + gguf_value(vtype, value)


def kv_array(key, vtype, values):
    return (gguf_string(key) + struct.pack("<IIQ", GGUF_ARRAY, vtype, len(values)) +
            b"".join(gguf_value(vtype, v) for v in values))


def gguf(kvs, tensors, alignment=32):
    """tensors: [(name, ne (ggml order), ggml type)]; data is a byte pattern, packed in order."""
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs)
    data, infos = b"", b""
    for i, (name, ne, ggml_type) in enumerate(tensors):
        block, block_bytes = TYPE_BYTES[ggml_type]
        count = 1
        for n in ne:
            count *= n
        size = count // block * block_bytes
        infos += gguf_string(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne)
        infos += struct.pack("<IQ", ggml_type, len(data))
        data += pattern(size, i) if ggml_type != GGML_F32 else struct.pack(f"<{count}f", *[0.5] * count)
        data += b"\0" * (-len(data) % alignment)
    out += infos
    out += b"\0" * (-len(out) % alignment)
    return out + data


def llama_kvs(arch, extra=()):
    return [kv("general.architecture", GGUF_STRING, arch), kv("general.name", GGUF_STRING, "tiny"),
            kv("general.alignment", GGUF_U32, 32), kv(f"{arch}.block_count", GGUF_U32, 1),
            kv(f"{arch}.context_length", GGUF_U32, 64), kv(f"{arch}.embedding_length", GGUF_U32, 32),
            kv(f"{arch}.feed_forward_length", GGUF_U32, 64), kv(f"{arch}.attention.head_count", GGUF_U32, 2),
            kv(f"{arch}.attention.head_count_kv", GGUF_U32, 1),
            kv(f"{arch}.attention.layer_norm_rms_epsilon", GGUF_F32, 1e-5),
            kv(f"{arch}.rope.freq_base", GGUF_F32, 500000.0), *extra,
            kv_array("tokenizer.ggml.tokens", GGUF_STRING, ["a", "b", "ab", "<s>"]),
            kv_array("tokenizer.ggml.scores", GGUF_F32, [0.0, -1.0, -2.0, 0.0]),
            kv_array("tokenizer.ggml.token_type", GGUF_I32, [1, 1, 1, 3]),
            kv("tokenizer.ggml.add_bos_token", GGUF_BOOL, True)]


def gguf_seeds():
    tensors = [("token_embd.weight", [32, 4], GGML_Q8_0), ("output_norm.weight", [32], GGML_F32),
               ("blk.0.attn_q.weight", [32, 32], GGML_BF16), ("blk.0.attn_q.bias", [32], GGML_F16)]
    write("gguf_fuzz", "llama.gguf", gguf(llama_kvs("llama", [kv(f"llama.attention.key_length", GGUF_U32, 16)]),
                                          tensors))
    write("gguf_fuzz", "qwen2_other_kv_types.gguf", gguf(llama_kvs("qwen2", [
        kv("general.file_type", GGUF_U16, 7), kv("test.i8", GGUF_I8, -1), kv("test.u8", GGUF_U8, 1),
        kv("test.i16", GGUF_I16, -2), kv("test.i64", GGUF_I64, -3), kv("test.u64", GGUF_U64, 3),
        kv("test.f64", GGUF_F64, 0.5), kv("split.count", GGUF_U16, 0)]), tensors[:2], alignment=32))
    mla = [kv("deepseek2.attention.kv_lora_rank", GGUF_U32, 16), kv("deepseek2.rope.dimension_count", GGUF_U32, 8),
           kv("deepseek2.attention.key_length_mla", GGUF_U32, 24),
           kv("deepseek2.attention.value_length_mla", GGUF_U32, 16),
           kv("deepseek2.attention.q_lora_rank", GGUF_U32, 0), kv("deepseek2.expert_count", GGUF_U32, 4),
           kv("deepseek2.expert_used_count", GGUF_U32, 2), kv("deepseek2.expert_feed_forward_length", GGUF_U32, 32),
           kv("deepseek2.expert_shared_count", GGUF_U32, 1), kv("deepseek2.leading_dense_block_count", GGUF_U32, 1),
           kv("deepseek2.expert_weights_scale", GGUF_F32, 2.5), kv("deepseek2.expert_weights_norm", GGUF_BOOL, True),
           kv("deepseek2.expert_gating_func", GGUF_U32, 2), kv("deepseek2.rope.scaling.type", GGUF_STRING, "yarn"),
           kv("deepseek2.rope.scaling.factor", GGUF_F32, 4.0),
           kv("deepseek2.rope.scaling.original_context_length", GGUF_U32, 16),
           kv("deepseek2.rope.scaling.yarn_log_multiplier", GGUF_F32, 0.0707)]
    write("gguf_fuzz", "deepseek2_mla_moe_yarn.gguf", gguf(llama_kvs("deepseek2", mla), tensors[:2]))


def imatrix_seeds():
    kvs = [kv("general.type", GGUF_STRING, "imatrix"), kv_array("imatrix.datasets", GGUF_STRING, ["calib.txt"]),
           kv("imatrix.chunk_count", GGUF_U32, 4), kv("imatrix.chunk_size", GGUF_U32, 32)]
    # A plain matrix (in_sum2 ne {8, 1}, counts ne {1, 1}) and stacked experts (n_mat 2).
    tensors = [("blk.0.ffn_down.weight.counts", [1, 1], GGML_F32), ("blk.0.ffn_down.weight.in_sum2", [8, 1], GGML_F32),
               ("blk.0.ffn_gate_exps.weight.counts", [1, 2], GGML_F32),
               ("blk.0.ffn_gate_exps.weight.in_sum2", [4, 2], GGML_F32)]
    write("imatrix_fuzz", "plain_and_experts.gguf", gguf(kvs, tensors))


if __name__ == "__main__":
    safetensors_seeds()
    config_seeds()
    tokenizer_json_seeds()
    gguf_vocab_seeds()
    tokenizer_encode_seeds()
    gguf_seeds()
    imatrix_seeds()
