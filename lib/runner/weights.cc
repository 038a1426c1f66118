#include "lib/runner/weights.h"

#include "lib/ir/block_scale.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::runner {

absl::StatusOr<std::unique_ptr<Weights>> Weights::Load(const Model& model, const arch::ArchAdapter& adapter) {
  auto w = std::unique_ptr<Weights>(new Weights(model, adapter));
  QC_ASSIGN_OR_RETURN(w->block_, BlockScaleSize(model));
  return w;
}

const TensorEntry* Weights::Find(const arch::TensorRole& role) const {
  return model_.tensors.Find(adapter_.TensorName(role));
}

bool Weights::Has(arch::Role role, int64_t layer) const { return Find({role, layer}) != nullptr; }

absl::StatusOr<std::span<const uint8_t>> Weights::Bytes(const TensorEntry& e) {
  if (auto mapped = e.source->MappedBytes()) return *mapped;
  QC_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadAll(*e.source, e.info.byte_size()));
  owned_.push_back(std::move(bytes));
  return std::span<const uint8_t>(owned_.back());
}

absl::StatusOr<const kernels::WeightMatrix*> Weights::Matrix(arch::Role role, int64_t layer, int64_t expert) {
  auto key = std::make_tuple(static_cast<int>(role), layer, expert);
  if (auto it = matrices_.find(key); it != matrices_.end()) return it->second.get();
  const arch::TensorRole tr{role, layer, expert};
  const TensorEntry* e = Find(tr);
  if (e == nullptr) return absl::NotFoundError(StrCat("checkpoint has no tensor '", adapter_.TensorName(tr), "'"));
  if (e->info.shape.size() != 2) {
    return absl::InvalidArgumentError(StrCat("tensor '", e->name, "' must be 2-D, is ", ShapeToString(e->info.shape)));
  }
  const int64_t rows = e->info.shape[0], cols = e->info.shape[1];
  QC_ASSIGN_OR_RETURN(std::span<const uint8_t> bytes, Bytes(*e));
  std::unique_ptr<kernels::WeightMatrix> m;
  if (e->info.dtype == DType::kF8E4M3) {
    const TensorEntry* scale = FindBlockScale(model_.tensors, e->name);
    if (scale == nullptr) return absl::InvalidArgumentError(StrCat("tensor '", e->name, "' is F8_E4M3 without a scale"));
    QC_RETURN_IF_ERROR(CheckBlockScale(*e, *scale, block_));
    QC_ASSIGN_OR_RETURN(std::vector<float> scales, ReadAllAsF32(*scale->source, scale->info));
    m = kernels::MakeFp8BlockWeight(bytes, std::move(scales), {rows, cols, block_.first, block_.second});
  } else {
    auto dense = kernels::MakeDenseWeight(e->info.dtype, bytes, rows, cols);
    if (!dense.ok()) return absl::Status(dense.status().code(), StrCat("tensor '", e->name, "': ", dense.status().message()));
    m = std::move(*dense);
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
