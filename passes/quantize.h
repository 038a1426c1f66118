// quantize: gives every weight of a GGUF-layout model a ggml type, by a llama-quantize mix
// (Q4_K_M, Q8_0, ...) or one type, with per-tensor overrides, and quantizes lazily with the
// ggml_quants kernels (bytes equal llama.cpp's for the same input), weighting the scale searches by
// the importance matrix in PassContext when there is one. Contract: model.layout == "gguf" (run
// gguf-layout first); weights F32/F16/BF16. Sets general.file_type and the quantize.imatrix.* keys.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lib/ir/importance.h"
#include "lib/pass/pass.h"
#include "passes/util/quant_mix.h"

namespace quantc::passes {

struct QuantizeOptions {
  std::string type = "Q4_K_M";
  std::string overrides;  // "pattern=TYPE;pattern=TYPE" (llama-quantize --tensor-type, first match wins)
  std::string imatrix;    // the importance matrix file the caller loaded into PassContext (provenance)
  bool pure = false;
  bool leave_output = false;
  std::string output_type, token_embedding_type;
  static void Bind(OptionBinder& b, QuantizeOptions& o) {
    b.String("type", &o.type, "mix or type: Q2_K, Q3_K_S/M/L, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K_S/M, Q5_K_S/M, Q6_K, Q8_0, IQ4_NL, IQ4_XS, MXFP4_MOE, F16, BF16, F32");
    b.String("override", &o.overrides, "per-tensor types, 'regex=type;regex=type' (first match wins)");
    b.String("imatrix", &o.imatrix, "importance matrix file (loaded by the caller)");
    b.Bool("pure", &o.pure, "no mix: every quantizable tensor gets the type itself");
    b.Bool("leave-output", &o.leave_output, "keep output.weight unquantized");
    b.String("output-type", &o.output_type, "type for output.weight");
    b.String("token-embedding-type", &o.token_embedding_type, "type for token_embd.weight");
  }
};

std::unique_ptr<Pass> CreateQuantizePass(QuantizeOptions options = {});

// Where the allocate pass records the types it chose for a mix (GGUF keys, kept in the output as
// provenance): the mix's name, and "tensor=TYPE" for every tensor of the groups it reallocated.
// quantize and gptq give those tensors these types after the mix's own rules.
inline constexpr char kAllocateMixKey[] = "quantc.allocate.mix";
inline constexpr char kAllocateTypesKey[] = "quantc.allocate.types";

// Each tensor's choice under the mix, the options and an allocate plan (model.tensors order).
absl::StatusOr<std::vector<TypeChoice>> PlanQuantChoices(const Model& model, const QuantizeOptions& options,
                                                         bool has_importance);

// The importance vector of each matrix of `e` (one per expert) as quantize weights its scale
// searches: in_sum2 / count, or none when the imatrix has no entry for it.
absl::StatusOr<std::vector<std::vector<float>>> ImportanceRows(const ImportanceMatrix& im, const TensorEntry& e);

// `input` (dense F32/F16/BF16, `info` its dtype and shape; a stack of experts when 3-D) quantized to
// the block type `to` as it streams, a batch of rows at a time, each expert with its own importance
// vector (none: unweighted). What quantize puts in place of every tensor it quantizes.
std::shared_ptr<const TensorSource> MakeQuantizeSource(std::string name, std::shared_ptr<const TensorSource> input,
                                                       TensorInfo info, DType to,
                                                       std::vector<std::vector<float>> importance);

// The type quantize gives each tensor of a GGUF-layout model (model.tensors order; a tensor it
// leaves alone keeps its dtype): what a pass that quantizes ahead of it (gptq) must produce, so
// that quantize keeps those tensors as they are.
absl::StatusOr<std::vector<DType>> PlanQuantTypes(const Model& model, const QuantizeOptions& options, bool has_importance);

}  // namespace quantc::passes
