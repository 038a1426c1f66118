// Storing integer-quantized weights as compressed-tensors `pack-quantized` (what vLLM loads; the
// layout is in lib/ir/packed_int.h, the arithmetic in lib/kernels/int_quant/int_quant.h). A pass
// that quantizes (int-quant's RTN, gptq) computes codes and parameters with the int_quant kernel
// and hands them here; this file only encodes them:
//
//   const DType sd = PackedIntScaleDType(model);           // fit every scale for this dtype
//   ... FitParams(scheme, w, n, sd), QuantizeCode(...) per row-group ...
//   QC_ASSIGN_OR_RETURN(PackedIntTensors t, PackInt(entry, scheme, sd, codes, params));
//   QC_RETURN_IF_ERROR(ReplaceWithPacked(model, {std::move(t)}));   // or a batch of weights
//   SetPackedIntQuantizationConfig(model, scheme, ignored_module_names);
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "lib/arch/adapter.h"
#include "lib/ir/model.h"
#include "lib/kernels/int_quant/int_quant.h"

namespace quantc::passes {

// The dtype weight_scale is stored in, which every scale must be fitted for (FitParams'
// scale_dtype): config.json's torch_dtype / dtype when it is bfloat16, float16 or float32 (vLLM
// loads scales into the model dtype), BF16 otherwise.
DType PackedIntScaleDType(const Model& model);

// Refuses to write a model vLLM would run wrongly from pack-quantized weights: one with integer
// codes and an online Hadamard recorded in config.json (rotate r4), which compressed-tensors
// cannot describe; a model without codes passes. (The
// passes themselves accept it: quantc's runner and the ONNX NPU pipeline apply the transform.)
// `where` prefixes the message ("--format safetensors").
absl::Status CheckPackableModel(const Model& model, std::string_view where);

// Refuses what pack-quantized cannot hold, naming the tensor: anything but a 2-D F32/F16/BF16
// weight (stacked 3-D experts do not occur in Hugging Face layout).
absl::Status CheckPackable(const TensorEntry& weight, const kernels::int_quant::IntScheme& scheme);
// A group size that does not divide the row leaves a ragged (shorter) last group, with its own
// scale: compressed-tensors writes it so ([out, ceil(in/group)] scales) and quantc runs it, but
// vLLM sizes the scales as in / group and its kernels need whole groups. Passes count such
// weights and say so (RaggedGroupsNote) instead of refusing: GPTQ's reference handles them too.
bool HasRaggedLastGroup(const TensorEntry& weight, const kernels::int_quant::IntScheme& scheme);
std::string RaggedGroupsNote(std::string_view pass, int64_t count, const kernels::int_quant::IntScheme& scheme);

// One [out, in] weight's quantization, produced in row order on demand (RTN computes it from the
// input weight while the writer streams). ForEachRows calls `f` for consecutive batches of whole
// rows [r0, r1) covering [0, out): params[(r1 - r0) * groups] (row-major) and, when `want_codes`,
// codes[(r1 - r0) * in] (quant.py's q in [0, maxq]; null otherwise). It may be called once per
// output tensor, so it must give the same result each time.
class IntRowsProducer {
 public:
  using RowsFn = absl::FunctionRef<absl::Status(int64_t r0, int64_t r1, const kernels::int_quant::IntParams* params,
                                                const uint8_t* codes)>;
  virtual ~IntRowsProducer() = default;
  virtual absl::Status ForEachRows(bool want_codes, RowsFn f) const = 0;
  virtual std::string Describe() const = 0;
};

// The entries that stand for one weight "X.weight": X.weight_packed, X.weight_scale,
// X.weight_zero_point (asymmetric only) and X.weight_shape, in that order.
struct PackedIntTensors {
  std::string weight_name;
  std::vector<TensorEntry> entries;
};

// From codes [out * in] and params [out * groups] held in memory (gptq): everything is packed now
// (bits / 8 bytes per weight) and the spans may be freed. INVALID_ARGUMENT on wrong sizes, a code
// past maxq, a zero point out of range (or not 2^(bits-1) for a symmetric scheme), or a scale not
// exactly representable in `scale_dtype` (fit with FitParams(..., scale_dtype)).
absl::StatusOr<PackedIntTensors> PackInt(const TensorEntry& weight, const kernels::int_quant::IntScheme& scheme,
                                         DType scale_dtype, std::span<const uint8_t> codes,
                                         std::span<const kernels::int_quant::IntParams> params);
// Lazily: each entry's source streams `producer` when a writer (or the runner) reads it, so only
// a batch of rows is held at a time. The same checks as PackInt run while streaming.
absl::StatusOr<PackedIntTensors> PackIntLazy(const TensorEntry& weight, const kernels::int_quant::IntScheme& scheme,
                                             DType scale_dtype, std::shared_ptr<const IntRowsProducer> producer);

// Puts each PackedIntTensors (any weight's replacement entries, one of which may keep the weight's
// own name: FP4 layouts do) in the table at the position of the weight it replaces (one pass over
// the table, so a whole model's weights at once cost no more than one). NOT_FOUND names a weight
// the table lacks.
absl::Status ReplaceWithPacked(Model& model, std::vector<PackedIntTensors> packed);

// The module name of a weight ("X.weight" -> "X"): how quantization_config names layers.
std::string ModuleOf(std::string_view weight_name);
// The modules of the Linear weights (arch::IsLinearRole) that `quantized` does not name, in table
// order: a quantization_config's `ignore` list.
std::vector<std::string> LinearModulesLeftOut(const Model& model, const arch::ArchAdapter& adapter,
                                              std::span<const std::string> quantized);

// config.json's quantization_config for `scheme`: one group targeting Linear, `ignore` the module
// names (tensor names without ".weight") of Linear layers left unquantized; `actorder` "" (null)
// or "weight" (GPTQ's act-order with static groups: groups stay in column order, no g_idx). The
// observer recorded is "minmax", or "mse" for -mse schemes.
void SetPackedIntQuantizationConfig(Model& model, const kernels::int_quant::IntScheme& scheme,
                                    std::span<const std::string> ignore, std::string_view actorder = "");

}  // namespace quantc::passes
