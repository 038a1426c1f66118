#include "passes/int_quant.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <regex>
#include <tuple>
#include <vector>

#include "lib/arch/adapter.h"
#include "lib/kernels/int_quant/int_quant.h"
#include "lib/support/parallel.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "passes/util/pack_quantized.h"

namespace quantc::passes {
namespace {

using arch::Role;
namespace iq = kernels::int_quant;

// Linear weights, and which of them vLLM fuses into one layer (q/k/v, gate/up, MLA's q_a +
// kv_a): 0 = not fused, else the fused set's id. A fused set must be all quantized or all left out.
int FusedSet(Role r) {
  switch (r) {
    case Role::kQ: case Role::kK: case Role::kV: return 1;
    case Role::kGate: case Role::kUp: return 2;
    case Role::kSharedGate: case Role::kSharedUp: return 3;
    case Role::kExpertGate: case Role::kExpertUp: return 4;
    case Role::kQA: case Role::kKVA: return 5;
    default: return 0;
  }
}

// Round to nearest: the weight is read in batches of rows; each row-group gets quant.py's
// parameters and each weight its nearest code. Deterministic, so every output tensor of the weight
// (packed codes, scales, zero points) can stream it on its own and they agree.
class RtnProducer final : public IntRowsProducer {
 public:
  RtnProducer(const TensorEntry& e, iq::IntScheme scheme, DType scale_dtype)
      : name_(e.name), input_(e.source), info_(e.info), scheme_(scheme), scale_dtype_(scale_dtype) {}

  absl::Status ForEachRows(bool want_codes, RowsFn f) const override {
    const int64_t rows = info_.rows(), cols = info_.cols();
    const int64_t group = iq::GroupSize(scheme_, cols), groups = iq::GroupCount(scheme_, cols);
    const size_t in_row = static_cast<size_t>(cols) * Traits(info_.dtype).block_bytes;
    const int64_t batch_rows = std::max<int64_t>(1, (4 << 20) / (4 * cols));  // ~4 MiB of FP32
    const int64_t min_rows_per_thread = std::max<int64_t>(1, (scheme_.mse ? 1024 : 65536) / cols);
    std::vector<uint8_t> pending;
    std::vector<float> w;
    std::vector<uint8_t> codes;
    std::vector<iq::IntParams> params;
    int64_t next = 0;
    auto flush = [&](const uint8_t* bytes, int64_t n) -> absl::Status {
      w.resize(static_cast<size_t>(n * cols));
      QC_RETURN_IF_ERROR(DecodeToF32(info_.dtype, bytes, w.size(), w.data()));
      for (size_t i = 0; i < w.size(); ++i) {
        if (!std::isfinite(w[i])) {
          return absl::InvalidArgumentError(StrCat("tensor '", name_, "' row ", next + static_cast<int64_t>(i) / cols,
                                                   " column ", static_cast<int64_t>(i) % cols, " is ", w[i]));
        }
      }
      params.resize(static_cast<size_t>(n * groups));
      codes.resize(want_codes ? static_cast<size_t>(n * cols) : 0);
      ParallelFor(0, n, min_rows_per_thread, [&](int64_t r) {
        const float* row = w.data() + r * cols;
        if (want_codes) {
          iq::QuantizeRow(scheme_, row, cols, scale_dtype_, codes.data() + r * cols, params.data() + r * groups);
        } else {
          for (int64_t k = 0; k < groups; ++k) params[r * groups + k] = iq::FitParams(scheme_, row + k * group, std::min(group, cols - k * group), scale_dtype_);
        }
      });
      QC_RETURN_IF_ERROR(f(next, next + n, params.data(), want_codes ? codes.data() : nullptr));
      next += n;
      return absl::OkStatus();
    };
    QC_RETURN_IF_ERROR(input_->Stream([&](std::span<const uint8_t> chunk) -> absl::Status {
      pending.insert(pending.end(), chunk.begin(), chunk.end());
      const int64_t whole = static_cast<int64_t>(pending.size() / in_row);
      int64_t done = 0;
      for (; whole - done >= batch_rows; done += batch_rows) QC_RETURN_IF_ERROR(flush(pending.data() + done * in_row, batch_rows));
      pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(done * in_row));
      return absl::OkStatus();
    }));
    if (pending.size() % in_row != 0) return absl::InternalError(StrCat(name_, ": input stream ended mid-row"));
    if (!pending.empty()) QC_RETURN_IF_ERROR(flush(pending.data(), static_cast<int64_t>(pending.size() / in_row)));
    if (next != rows) return absl::InternalError(StrCat(name_, ": input gave ", next, " rows, expected ", rows));
    return absl::OkStatus();
  }

  std::string Describe() const override { return StrCat("rtn(", input_->Describe(), ")"); }

 private:
  std::string name_;
  std::shared_ptr<const TensorSource> input_;
  TensorInfo info_;
  iq::IntScheme scheme_;
  DType scale_dtype_;
};

class IntQuantPass final : public Pass {
 public:
  explicit IntQuantPass(IntQuantOptions options) : options_(std::move(options)) {}
  std::string_view Name() const override { return "int-quant"; }
  void BindOptions(OptionBinder& b) override { IntQuantOptions::Bind(b, options_); }

  absl::Status Run(Model& model, PassContext& ctx) override {
    if (model.layout != "hf") {
      return absl::FailedPreconditionError(StrCat("int-quant writes compressed-tensors from Hugging Face names; the model is in ",
                                                  model.layout, " layout (int-quant cannot follow gguf-layout or shard)"));
    }
    QC_ASSIGN_OR_RETURN(iq::IntScheme scheme, iq::ParseIntScheme(options_.scheme));
    QC_ASSIGN_OR_RETURN(const arch::ArchAdapter* adapter, arch::AdapterFor(model.model_type()));
    for (const TensorEntry& e : model.tensors.entries()) {
      if (e.info.dtype == DType::kF8E4M3) {
        return absl::FailedPreconditionError(StrCat("tensor '", e.name, "' is F8_E4M3: run fp8-to-bf16 before int-quant"));
      }
    }
    if (auto qc = model.config.find("quantization_config"); qc != model.config.end()) {
      return absl::FailedPreconditionError(StrCat("config.json already has quantization_config (quant_method ",
                                                  qc->is_object() && qc->contains("quant_method") ? (*qc)["quant_method"].dump() : "?",
                                                  "); int-quant starts from an unquantized F32/F16/BF16 checkpoint"));
    }
    std::regex ignore;
    try {
      ignore = std::regex(options_.ignore);
    } catch (const std::regex_error& e) {
      return absl::InvalidArgumentError(StrCat("int-quant: ignore='", options_.ignore, "' is not a regex: ", e.what()));
    }
    const DType scale_dtype = PackedIntScaleDType(model);
    std::vector<PackedIntTensors> packed;
    std::vector<std::string> ignored;
    int64_t ragged = 0;
    // (layer, expert, fused set) -> names quantized / left out, to keep vLLM's fused layers whole.
    std::map<std::tuple<int64_t, int64_t, int>, std::pair<std::vector<std::string>, std::vector<std::string>>> fused;
    for (const TensorEntry& e : model.tensors.entries()) {
      const std::optional<arch::TensorRole> role = adapter->RoleOf(e.name);
      if (!role || !arch::IsLinearRole(role->role) || !e.name.ends_with(".weight")) continue;
      const bool skip = !options_.ignore.empty() && std::regex_search(e.name, ignore);
      if (const int set = FusedSet(role->role); set != 0) {
        auto& [in, out] = fused[{role->layer, role->expert, set}];
        (skip ? out : in).push_back(e.name);
      }
      if (skip) {
        ignored.push_back(ModuleOf(e.name));
        continue;
      }
      ragged += HasRaggedLastGroup(e, scheme) ? 1 : 0;
      QC_ASSIGN_OR_RETURN(PackedIntTensors t,
                          PackIntLazy(e, scheme, scale_dtype, std::make_shared<RtnProducer>(e, scheme, scale_dtype)));
      packed.push_back(std::move(t));
    }
    for (const auto& [key, names] : fused) {
      if (!names.first.empty() && !names.second.empty()) {
        return absl::InvalidArgumentError(StrCat("int-quant: ignore='", options_.ignore, "' leaves out ", StrJoin(names.second, ", "),
                                                 " but not ", StrJoin(names.first, ", "),
                                                 "; vLLM fuses them into one layer, which needs one scheme"));
      }
    }
    const int64_t quantized = static_cast<int64_t>(packed.size());
    QC_RETURN_IF_ERROR(ReplaceWithPacked(model, std::move(packed)));
    SetPackedIntQuantizationConfig(model, scheme, ignored);
    if (ragged > 0 && ctx.notes != nullptr) ctx.notes->push_back(RaggedGroupsNote("int-quant", ragged, scheme));
    if (ctx.stats != nullptr) {
      ctx.stats->Add("tensors-quantized", quantized);
      ctx.stats->Add("linears-ignored", static_cast<int64_t>(ignored.size()));
    }
    return absl::OkStatus();
  }

 private:
  IntQuantOptions options_;
};

}  // namespace

std::unique_ptr<Pass> CreateIntQuantPass(IntQuantOptions options) { return std::make_unique<IntQuantPass>(std::move(options)); }

}  // namespace quantc::passes
