#include "lib/ir/block_scale.h"

#include "lib/support/strings.h"

namespace quantc {

const TensorEntry* FindBlockScale(const TensorTable& tensors, std::string_view name) {
  if (const TensorEntry* s = tensors.Find(StrCat(name, "_scale_inv"))) return s;
  if (name.ends_with(".weight")) return tensors.Find(StrCat(name.substr(0, name.size() - 7), ".scale"));
  return nullptr;
}

absl::StatusOr<std::pair<int64_t, int64_t>> BlockScaleSize(const Model& model) {
  std::pair<int64_t, int64_t> block{128, 128};
  auto qc = model.config.find("quantization_config");
  if (qc == model.config.end() || !qc->is_object()) return block;
  auto bs = qc->find("weight_block_size");
  if (bs == qc->end()) return block;
  if (!bs->is_array() || bs->size() != 2 || !(*bs)[0].is_number_integer() || !(*bs)[1].is_number_integer() ||
      (*bs)[0].get<int64_t>() <= 0 || (*bs)[1].get<int64_t>() <= 0) {
    return absl::InvalidArgumentError(
        StrCat("config.json: quantization_config.weight_block_size must be two positive integers, got ", bs->dump()));
  }
  return std::pair<int64_t, int64_t>{(*bs)[0].get<int64_t>(), (*bs)[1].get<int64_t>()};
}

absl::Status CheckBlockScale(const TensorEntry& w, const TensorEntry& scale, std::pair<int64_t, int64_t> block) {
  std::string where = StrCat("tensor '", w.name, "' (", w.origin, ")");
  if (w.info.shape.size() != 2) {
    return absl::InvalidArgumentError(
        StrCat(where, ": block-scaled FP8 needs a 2-D weight, shape is ", ShapeToString(w.info.shape)));
  }
  if (scale.info.dtype != DType::kF32 && scale.info.dtype != DType::kBF16 && scale.info.dtype != DType::kF8E8M0) {
    return absl::InvalidArgumentError(StrCat("scale '", scale.name, "' (", scale.origin, ") is ",
                                             Name(scale.info.dtype), "; expected F32, BF16 or F8_E8M0"));
  }
  Shape expected{(w.info.shape[0] + block.first - 1) / block.first, (w.info.shape[1] + block.second - 1) / block.second};
  if (scale.info.shape != expected) {
    return absl::InvalidArgumentError(StrCat("scale '", scale.name, "' (", scale.origin, ") has shape ",
                                             ShapeToString(scale.info.shape), "; weight ", ShapeToString(w.info.shape),
                                             " with ", block.first, "x", block.second, " blocks needs ",
                                             ShapeToString(expected)));
  }
  return absl::OkStatus();
}

}  // namespace quantc
