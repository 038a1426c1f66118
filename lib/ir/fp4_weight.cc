#include "lib/ir/fp4_weight.h"

#include <cmath>

#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc {
namespace {

constexpr std::string_view kWeight = ".weight";

bool IsByte(DType t) { return t == DType::kU8 || t == DType::kI8; }
bool IsE8M0Byte(DType t) { return t == DType::kF8E8M0 || t == DType::kU8; }

std::string_view BaseOf(std::string_view weight_name) {
  return weight_name.ends_with(kWeight) ? weight_name.substr(0, weight_name.size() - kWeight.size()) : weight_name;
}

absl::Status Bad(const TensorEntry& t, std::string_view what) {
  return absl::InvalidArgumentError(StrCat("tensor '", t.name, "' (", t.origin, ") ", what));
}

}  // namespace

std::string_view Name(Fp4Layout layout) {
  switch (layout) {
    case Fp4Layout::kDeepSeekV4: return "deepseek-v4";
    case Fp4Layout::kCompressedTensors: return "compressed-tensors";
    case Fp4Layout::kModelOpt: return "modelopt";
  }
  return "?";
}

std::string_view Name(Fp4Scheme scheme) { return scheme == Fp4Scheme::kMxfp4 ? "mxfp4" : "nvfp4"; }

std::optional<Fp4Entries> FindFp4Weight(const TensorTable& tensors, std::string_view weight_name) {
  Fp4Entries e;
  // compressed-tensors: U8 codes (its int pack-quantized codes are I32 words).
  if (const TensorEntry* packed = tensors.Find(StrCat(weight_name, "_packed")); packed && IsByte(packed->info.dtype)) {
    e.layout = Fp4Layout::kCompressedTensors;
    e.codes = packed;
    e.scales = tensors.Find(StrCat(weight_name, "_scale"));
    e.global = tensors.Find(StrCat(weight_name, "_global_scale"));
    e.scheme = e.scales && e.scales->info.dtype == DType::kF8E4M3 ? Fp4Scheme::kNvfp4 : Fp4Scheme::kMxfp4;
    return e;
  }
  const TensorEntry* w = tensors.Find(weight_name);
  if (w == nullptr || !IsByte(w->info.dtype)) return std::nullopt;
  e.codes = w;
  if (const TensorEntry* s = tensors.Find(StrCat(weight_name, "_scale")); s && s->info.dtype == DType::kF8E4M3) {
    e.layout = Fp4Layout::kModelOpt;
    e.scheme = Fp4Scheme::kNvfp4;
    e.scales = s;
    e.global = tensors.Find(StrCat(weight_name, "_scale_2"));
    return e;
  }
  if (const TensorEntry* s = tensors.Find(StrCat(BaseOf(weight_name), ".scale")); s && IsE8M0Byte(s->info.dtype)) {
    e.layout = Fp4Layout::kDeepSeekV4;
    e.scheme = Fp4Scheme::kMxfp4;
    e.scales = s;
    return e;
  }
  return std::nullopt;  // a byte tensor without an FP4 scale: an int8 weight, not ours to read
}

absl::StatusOr<Fp4TensorNames> NamesFor(Fp4Layout layout, Fp4Scheme scheme, std::string_view weight_name) {
  const bool nv = scheme == Fp4Scheme::kNvfp4;
  switch (layout) {
    case Fp4Layout::kDeepSeekV4:
      if (nv) return absl::InvalidArgumentError("the DeepSeek-V4 layout holds MXFP4 only (E8M0 scales per 32)");
      return Fp4TensorNames{std::string(weight_name), StrCat(BaseOf(weight_name), ".scale"), ""};
    case Fp4Layout::kCompressedTensors:
      return Fp4TensorNames{StrCat(weight_name, "_packed"), StrCat(weight_name, "_scale"),
                            nv ? StrCat(weight_name, "_global_scale") : ""};
    case Fp4Layout::kModelOpt:
      if (!nv) return absl::InvalidArgumentError("the ModelOpt layout holds NVFP4 only");
      return Fp4TensorNames{std::string(weight_name), StrCat(weight_name, "_scale"), StrCat(weight_name, "_scale_2")};
  }
  return absl::InternalError("unknown FP4 layout");
}

absl::StatusOr<std::pair<int64_t, int64_t>> CheckFp4Weight(std::string_view weight_name, const Fp4Entries& e) {
  const std::string what = StrCat(Name(e.layout), " ", Name(e.scheme), " weight '", weight_name, "'");
  if (e.scales == nullptr) return absl::InvalidArgumentError(StrCat(what, " has no scale tensor"));
  const Shape& c = e.codes->info.shape;
  const Shape& s = e.scales->info.shape;
  if (!IsByte(e.codes->info.dtype)) return Bad(*e.codes, StrCat("holds FP4 codes, so must be U8 or I8, is ", Name(e.codes->info.dtype)));
  if (c.size() != 2) return Bad(*e.codes, StrCat("must be 2-D [out, in/2], is ", ShapeToString(c)));
  const int64_t group = GroupSize(e.scheme);
  const int64_t rows = c[0], cols = c[1] * 2;
  const DType want = e.scheme == Fp4Scheme::kMxfp4 ? DType::kF8E8M0 : DType::kF8E4M3;
  if (e.scales->info.dtype != want && !(want == DType::kF8E8M0 && e.scales->info.dtype == DType::kU8)) {
    return Bad(*e.scales, StrCat("is ", Name(e.scales->info.dtype), "; ", Name(e.scheme), " scales are ", Name(want)));
  }
  if (cols % group != 0 || s != Shape{rows, cols / group}) {
    return Bad(*e.scales, StrCat("has shape ", ShapeToString(s), "; codes ", ShapeToString(c), " (", cols,
                                 " inputs) need [", rows, ", ", cols / group, "] (one per ", group, ")"));
  }
  if (e.scheme == Fp4Scheme::kNvfp4) {
    if (e.global == nullptr) return absl::InvalidArgumentError(StrCat(what, " has no global scale tensor"));
    if (e.global->info.dtype != DType::kF32 || e.global->info.num_elements() != 1) {
      return Bad(*e.global, StrCat("must be one F32 value, is ", Name(e.global->info.dtype), " ", ShapeToString(e.global->info.shape)));
    }
  }
  return std::pair{rows, cols};
}

absl::StatusOr<float> Fp4GlobalMultiplier(const Fp4Entries& e) {
  if (e.scheme == Fp4Scheme::kMxfp4) return 1.0f;
  if (e.global == nullptr) return absl::InvalidArgumentError(StrCat("tensor '", e.codes->name, "': NVFP4 without a global scale"));
  QC_ASSIGN_OR_RETURN(std::vector<float> v, ReadAllAsF32(*e.global->source, e.global->info));
  if (v.size() != 1 || !std::isfinite(v[0]) || !(v[0] > 0.0f)) {
    return Bad(*e.global, StrCat("must be a positive finite number, is ", v.empty() ? std::string("empty") : StrCat(v[0])));
  }
  return e.layout == Fp4Layout::kCompressedTensors ? 1.0f / v[0] : v[0];
}

absl::StatusOr<std::vector<uint8_t>> ReadFp4Scales(const Fp4Entries& e) {
  QC_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadAll(*e.scales->source, e.scales->info.byte_size()));
  const bool mx = e.scheme == Fp4Scheme::kMxfp4;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (mx ? bytes[i] == 0xFF : (bytes[i] & 0x7F) == 0x7F) {
      return Bad(*e.scales, fmt::format("holds a NaN scale (byte 0x{:02X}) at index {}", bytes[i], i));
    }
  }
  return bytes;
}

bool IsFp4Scale(const TensorTable& tensors, const TensorEntry& t) {
  std::string_view n = t.name;
  if (!n.ends_with("_scale")) return false;
  n.remove_suffix(6);
  const std::optional<Fp4Entries> f = FindFp4Weight(tensors, n);
  return f && f->scales == &t;
}

bool HasFp4Weights(const TensorTable& tensors) {
  for (const TensorEntry& t : tensors.entries()) {
    std::string_view n = t.name;
    if (n.ends_with("_blocks") && t.info.dtype == DType::kU8) return true;
    if (n.ends_with("_packed")) n.remove_suffix(7);
    else if (!n.ends_with(kWeight)) continue;
    if (FindFp4Weight(tensors, n)) return true;
  }
  return false;
}

absl::StatusOr<std::optional<Fp4GptOssBlocks>> FindGptOssBlocks(const TensorTable& tensors, const TensorEntry& blocks) {
  std::string_view n = blocks.name;
  if (!n.ends_with("_blocks") || blocks.info.dtype != DType::kU8) return std::nullopt;
  Fp4GptOssBlocks g;
  g.parameter = std::string(n.substr(0, n.size() - 7));
  g.blocks = &blocks;
  g.scales = tensors.Find(StrCat(g.parameter, "_scales"));
  if (g.scales == nullptr) return Bad(blocks, StrCat("(gpt-oss MXFP4) has no '", g.parameter, "_scales'"));
  const Shape& b = blocks.info.shape;
  if (b.size() != 4 || b[3] != 16) return Bad(blocks, StrCat("must be [experts, out, in/32, 16], is ", ShapeToString(b)));
  if (!IsE8M0Byte(g.scales->info.dtype) || g.scales->info.shape != Shape{b[0], b[1], b[2]}) {
    return Bad(*g.scales, StrCat("must be U8 ", ShapeToString(Shape{b[0], b[1], b[2]}), " for blocks ",
                                 ShapeToString(b), ", is ", Name(g.scales->info.dtype), " ", ShapeToString(g.scales->info.shape)));
  }
  return g;
}

}  // namespace quantc
