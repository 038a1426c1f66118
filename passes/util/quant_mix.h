// llama-quantize's type choice per tensor (llama.cpp src/llama-quant.cpp, llama_tensor_get_type at
// 81ff7abe; rules summarized in specs/gguf-llamacpp.md §8 and specs/corrections.md #1-2): the named
// mixes (Q4_K_M, ...) pick a type per tensor category, layer and model shape; tensors that cannot be
// quantized keep their type; user overrides take precedence; rows not divisible by the block fall
// back to a compatible type. Tensor names are GGUF names.
#pragma once

#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/dtypes/dtype.h"
#include "lib/tensor/tensor.h"

namespace quantc::passes {

// A llama_ftype: what `--type` names.
struct QuantMix {
  std::string_view name;    // "Q4_K_M"
  uint32_t file_type;       // general.file_type (llama_ftype id)
  DType default_type;       // the type most tensors get
  bool requires_imatrix = false;
};
// Case-insensitive lookup of a mix or plain type name: Q2_K, Q2_K_S, Q3_K_S/M/L, Q4_0, Q4_1, Q5_0,
// Q5_1, Q8_0, Q4_K_S/M, Q5_K_S/M, Q6_K, IQ4_NL, IQ4_XS, MXFP4_MOE, F32, F16, BF16.
std::optional<QuantMix> FindQuantMix(std::string_view name);
std::vector<std::string_view> QuantMixNames();

struct TypeOverride {
  std::string pattern;  // ECMAScript regex searched in the tensor name (llama-quantize --tensor-type)
  DType type;
};
// "pattern=TYPE" -> override; error names the text.
absl::StatusOr<TypeOverride> ParseTypeOverride(std::string_view text);

struct MixModel {        // the hparams the rules read
  int64_t n_layer = 0;   // block_count
  int64_t n_expert = 0;  // expert_count (0 for dense)
  int64_t n_head = 0, n_head_kv = 0;  // n_gqa = n_head / n_head_kv
};

struct MixOptions {
  bool has_imatrix = false;
  bool pure = false;                        // every quantizable tensor gets the default type
  bool leave_output = false;                // keep output.weight unquantized
  std::vector<TypeOverride> overrides;      // first matching pattern wins
  std::optional<DType> output_type;         // --output-tensor-type
  std::optional<DType> token_embedding_type;
};

struct TensorToType {
  std::string name;
  TensorInfo info;       // as stored now (numpy-order shape; type kept when not quantizable)
};

struct TypeChoice {
  DType type;
  bool fallback = false;  // the mix's choice did not fit the row length
  bool quantized = false; // the tensor is one llama-quantize quantizes
  bool overridden = false; // an override pattern (or --output/--token-embedding-type) chose it
};

// The type of each tensor, in the order given. Decisions are made in llama-quantize's order
// (layer number, then name), which its attn_v counter depends on. Errors: --pure on a tensor whose
// rows do not fit the type (llama-quantize aborts), a mix needing an imatrix without one.
absl::StatusOr<std::vector<TypeChoice>> ChooseTypes(const QuantMix& mix, const MixModel& model, const MixOptions& options,
                                                    const std::vector<TensorToType>& tensors);

}  // namespace quantc::passes
