#include "lib/runner/weights.h"

#include <cstring>

#include "lib/ir/block_scale.h"
#include "lib/ir/fp4_weight.h"
#include "lib/ir/packed_int.h"
#include "lib/kernels/int_quant/int_quant.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::runner {
namespace {

// A pack-quantized weight: codes viewed in place, scales and zero points decoded once.
absl::StatusOr<std::unique_ptr<kernels::WeightMatrix>> PackedIntMatrix(const Model& model, const std::string& weight_name,
                                                                       const PackedIntEntries& p,
                                                                       std::span<const uint8_t> codes) {
  QC_ASSIGN_OR_RETURN(PackedIntConfig config, PackedIntConfigOf(model));
  QC_ASSIGN_OR_RETURN(auto dims, CheckPackedInt(weight_name, p, config));
  const auto [rows, cols] = dims;
  kernels::PackedIntLayout layout{config.bits, rows, cols, config.group_size > 0 ? config.group_size : cols};
  QC_ASSIGN_OR_RETURN(std::vector<float> scales, ReadAllAsF32(*p.scale->source, p.scale->info));
  std::vector<uint8_t> zeros;
  if (!config.symmetric) {
    QC_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadAll(*p.zero_point->source, p.zero_point->info.byte_size()));
    std::vector<int32_t> words(bytes.size() / 4);
    std::memcpy(words.data(), bytes.data(), words.size() * 4);
    zeros.resize(scales.size());
    // One zero point per group, the last group ragged when cols is not a multiple of it.
    const int64_t groups = (cols + layout.group_size - 1) / layout.group_size;
    kernels::int_quant::UnpackBitsDim0(words.data(), rows, groups, config.bits, zeros.data());
  }
  auto m = kernels::MakePackedIntWeight(codes, layout, std::move(scales), std::move(zeros));
  if (!m.ok()) return absl::Status(m.status().code(), StrCat("tensor '", p.packed->name, "': ", m.status().message()));
  return std::move(*m);
}

// An FP4 weight: codes viewed in place, scale bytes read once.
absl::StatusOr<std::unique_ptr<kernels::WeightMatrix>> Fp4Matrix(const std::string& weight_name, const Fp4Entries& f,
                                                                 std::span<const uint8_t> codes) {
  QC_ASSIGN_OR_RETURN(auto dims, CheckFp4Weight(weight_name, f));
  QC_ASSIGN_OR_RETURN(float global, Fp4GlobalMultiplier(f));
  QC_ASSIGN_OR_RETURN(std::vector<uint8_t> scales, ReadFp4Scales(f));
  const auto format = f.scheme == Fp4Scheme::kMxfp4 ? kernels::fp4::Fp4Format::kMx : kernels::fp4::Fp4Format::kNv;
  auto m = kernels::MakeFp4Weight(format, codes, std::move(scales), global, dims.first, dims.second);
  if (!m.ok()) return absl::Status(m.status().code(), StrCat("tensor '", f.codes->name, "': ", m.status().message()));
  return std::move(*m);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Weights>> Weights::Load(const Model& model, const arch::ArchAdapter& adapter,
                                                       RunnerOptions options) {
  auto w = std::unique_ptr<Weights>(new Weights(model, adapter, std::move(options)));
  QC_ASSIGN_OR_RETURN(w->block_, BlockScaleSize(model));
  return w;
}

const TensorEntry* Weights::Find(const arch::TensorRole& role) const {
  return model_.tensors.Find(adapter_.TensorName(role));
}

bool Weights::Has(arch::Role role, int64_t layer, int64_t expert) const {
  const arch::TensorRole tr{role, layer, expert};
  return Find(tr) != nullptr || FindPackedInt(model_.tensors, adapter_.TensorName(tr)).has_value();
}

void Weights::ForgetLayer(int64_t layer) {
  std::erase_if(matrices_, [&](const auto& kv) { return std::get<1>(kv.first) == layer; });
  std::erase_if(vectors_, [&](const auto& kv) { return kv.first.second == layer; });
  std::erase_if(owned_, [&](const auto& kv) {
    const std::optional<arch::TensorRole> role = adapter_.RoleOf(kv.first);
    return role && role->layer == layer;
  });
}

absl::StatusOr<std::span<const uint8_t>> Weights::Bytes(const TensorEntry& e) {
  if (auto mapped = e.source->MappedBytes()) return *mapped;
  if (auto it = owned_.find(e.name); it != owned_.end()) return std::span<const uint8_t>(it->second);
  QC_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadAll(*e.source, e.info.byte_size()));
  return std::span<const uint8_t>(owned_[e.name] = std::move(bytes));
}

absl::StatusOr<const kernels::WeightMatrix*> Weights::Matrix(arch::Role role, int64_t layer, int64_t expert) {
  auto key = std::make_tuple(static_cast<int>(role), layer, expert);
  if (auto it = matrices_.find(key); it != matrices_.end()) return it->second.get();
  const arch::TensorRole tr{role, layer, expert};
  const std::string weight_name = adapter_.TensorName(tr);
  const TensorEntry* e = Find(tr);
  // FP4 (lib/ir/fp4_weight.h: DeepSeek-V4, compressed-tensors mxfp4/nvfp4, ModelOpt NVFP4) and
  // compressed-tensors pack-quantized integers (lib/ir/packed_int.h): the role's "X.weight" is
  // stored as codes with their scales, and runs as stored.
  std::optional<Fp4Entries> fp4;
  std::optional<PackedIntEntries> packed;
  if (e == nullptr || e->info.dtype == DType::kU8 || e->info.dtype == DType::kI8) fp4 = FindFp4Weight(model_.tensors, weight_name);
  if (fp4) {
    e = fp4->codes;
  } else if (e == nullptr && (packed = FindPackedInt(model_.tensors, weight_name))) {
    e = packed->packed;
  }
  if (e == nullptr) return absl::NotFoundError(StrCat("checkpoint has no tensor '", weight_name, "'"));
  const Shape& shape = e->info.shape;
  const DType dtype = e->info.dtype;
  // The matrix: the whole 2-D tensor, one expert's [out, in] slice of a stacked 3-D tensor, or
  // (GGUF MLA k_b / v_b) a 3-D tensor with its leading dims as rows.
  const std::optional<int64_t> stacked = adapter_.StackedIndex(tr);
  int64_t rows = 0, cols = 0, slice = 0;
  if (stacked) {
    if (shape.size() != 3) {
      return absl::InvalidArgumentError(
          StrCat("tensor '", e->name, "' must be 3-D [n_expert, out, in], is ", ShapeToString(shape)));
    }
    if (*stacked < 0 || *stacked >= shape[0]) {
      return absl::InvalidArgumentError(
          StrCat("tensor '", e->name, "' ", ShapeToString(shape), " has no expert ", *stacked));
    }
    rows = shape[1], cols = shape[2], slice = *stacked;
  } else if (shape.size() == 2 || (shape.size() == 3 && (role == arch::Role::kKB || role == arch::Role::kVB))) {
    rows = shape.size() == 2 ? shape[0] : shape[0] * shape[1];
    cols = shape.back();
  } else {
    return absl::InvalidArgumentError(StrCat("tensor '", e->name, "' must be 2-D, is ", ShapeToString(shape)));
  }
  QC_ASSIGN_OR_RETURN(std::span<const uint8_t> bytes, Bytes(*e));
  if (stacked) {
    auto row_bytes = ByteSize(dtype, static_cast<uint64_t>(cols));
    if (!row_bytes.ok()) return absl::InvalidArgumentError(StrCat("tensor '", e->name, "': ", row_bytes.status().message()));
    const uint64_t size = static_cast<uint64_t>(rows) * *row_bytes;
    if ((static_cast<uint64_t>(slice) + 1) * size > bytes.size()) {
      return absl::DataLossError(StrCat("tensor '", e->name, "' holds ", bytes.size(), " bytes, too few for ",
                                        ShapeToString(shape), " ", Name(dtype)));
    }
    bytes = bytes.subspan(static_cast<uint64_t>(slice) * size, size);
  }
  std::unique_ptr<kernels::WeightMatrix> m;
  if (fp4) {
    if (stacked) return absl::UnimplementedError(StrCat("tensor '", e->name, "': stacked FP4 experts"));
    QC_ASSIGN_OR_RETURN(m, Fp4Matrix(weight_name, *fp4, bytes));
    cols = m->cols();
  } else if (packed) {
    if (stacked) return absl::UnimplementedError(StrCat("tensor '", e->name, "': stacked pack-quantized experts"));
    QC_ASSIGN_OR_RETURN(m, PackedIntMatrix(model_, weight_name, *packed, bytes));
    cols = m->cols();
  } else if (dtype == DType::kF8E4M3) {
    if (stacked) return absl::UnimplementedError(StrCat("tensor '", e->name, "': stacked F8_E4M3 experts"));
    const TensorEntry* scale = FindBlockScale(model_.tensors, e->name);
    if (scale == nullptr) return absl::InvalidArgumentError(StrCat("tensor '", e->name, "' is F8_E4M3 without a scale"));
    QC_RETURN_IF_ERROR(CheckBlockScale(*e, *scale, block_));
    QC_ASSIGN_OR_RETURN(std::vector<float> scales, ReadAllAsF32(*scale->source, scale->info));
    m = kernels::MakeFp8BlockWeight(bytes, std::move(scales), {rows, cols, block_.first, block_.second});
  } else {
    auto made = Traits(dtype).is_block_quant ? kernels::MakeBlockQuantWeight(dtype, bytes, rows, cols)
                                             : kernels::MakeDenseWeight(dtype, bytes, rows, cols);
    if (!made.ok()) return absl::Status(made.status().code(), StrCat("tensor '", e->name, "': ", made.status().message()));
    m = std::move(*made);
  }
  if (options_.llama_cpp_activations) m->set_input_rounding(kernels::ggml_quants::ActivationRoundingFor(dtype));
  if (options_.matmul_observer && role != arch::Role::kEmbedding && role != arch::Role::kLmHead) {
    m->set_input_observer([observer = options_.matmul_observer, name = packed || fp4 ? weight_name : e->name,
                           expert = stacked ? *stacked : int64_t{-1},
                           cols](const float* x, int64_t n) { observer(name, expert, x, n, cols); });
  }
  return (matrices_[key] = std::move(m)).get();
}

absl::StatusOr<const std::vector<float>*> Weights::Vector(arch::Role role, int64_t layer) {
  auto key = std::make_pair(static_cast<int>(role), layer);
  if (auto it = vectors_.find(key); it != vectors_.end()) return &it->second;
  const arch::TensorRole tr{role, layer};
  const TensorEntry* e = Find(tr);
  if (e == nullptr) return absl::NotFoundError(StrCat("checkpoint has no tensor '", adapter_.TensorName(tr), "'"));
  QC_ASSIGN_OR_RETURN(std::vector<float> v, ReadAllAsF32(*e->source, e->info));
  return &(vectors_[key] = std::move(v));
}

}  // namespace quantc::runner
