// llama.cpp's GGUF layout of the architectures quantc reads: tensor names (blk.N.attn_q.weight ...),
// the model metadata keys (<arch>.block_count, ...) and their inverse, so a model can be written
// as llama.cpp's converter writes it (convert_hf_to_gguf.py, conversion/{qwen,llama,deepseek}.py at
// llama.cpp 81ff7abe; /work/shared/specs/gguf-llamacpp.md §2-3) and a GGUF file run by the runner.
// The tensor transformations themselves (q/k row permutation, kv_b split, expert stacking) are
// math and live in passes/gguf_layout.cc.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "lib/arch/adapter.h"
#include "lib/arch/model_spec.h"
#include "lib/ir/metadata.h"
#include "lib/ir/model.h"
#include "nlohmann/json.hpp"

namespace quantc::arch {

// llama.cpp's architecture name for a config model_type: qwen2 -> "qwen2", llama -> "llama",
// deepseek_v3 -> "deepseek2". nullopt for types without a GGUF mapping.
std::optional<std::string_view> GgufArchName(std::string_view model_type);

// GGUF tensor names by role. Routed experts share one stacked tensor per layer and kind
// ("blk.3.ffn_gate_exps.weight"), so GgufTensorName ignores role.expert and GgufRoleOf returns
// expert = -1 for them. kKVB maps to the legacy unsplit "attn_kv_b.weight".
std::string GgufTensorName(const TensorRole& role);
std::optional<TensorRole> GgufRoleOf(std::string_view name);

// The adapter for a model in GGUF layout: GGUF names, stacked experts, and the architecture's
// checks; llama's q/k rows are permuted for adjacent-pair rotation, so its rope is interleaved.
const ArchAdapter& GgufLayoutAdapter(const ArchAdapter& base);
// The adapter for `model` in its layout (model.layout "hf" or "gguf").
absl::StatusOr<const ArchAdapter*> AdapterForModel(const Model& model);

// The architecture keys llama.cpp's loader reads (<arch>.*), in the converter's order, from a
// parsed spec and the config it came from. general.* and tokenizer.* are not included.
absl::StatusOr<Metadata> GgufArchMetadata(const ModelSpec& spec, const nlohmann::ordered_json& config);

// The inverse: a config.json equivalent (transformers 5 form) rebuilt from a GGUF model's keys and
// tensors, enough for ParseModelSpec and the runner. Errors name the missing key.
absl::StatusOr<nlohmann::ordered_json> HfConfigFromGguf(const Model& model);

}  // namespace quantc::arch
