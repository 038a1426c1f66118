#include "lib/ir/packed_int.h"

#include <cstring>

#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc {
namespace {

constexpr std::string_view kWhere = "config.json: quantization_config";

absl::StatusOr<PackedIntConfig> ParseWeights(const nlohmann::ordered_json& w, std::string_view where) {
  auto bad = [&](std::string_view key, std::string_view expected) {
    return absl::InvalidArgumentError(StrCat(where, ".", key, " must be ", expected, ", got ",
                                             w.contains(key) ? w[std::string(key)].dump() : "nothing"));
  };
  if (!w.is_object()) return absl::InvalidArgumentError(StrCat(where, " must be an object"));
  PackedIntConfig c;
  if (!w.contains("num_bits") || !w["num_bits"].is_number_integer() || w["num_bits"].get<int>() < 1 ||
      w["num_bits"].get<int>() > 8) {
    return bad("num_bits", "an integer 1..8");
  }
  c.bits = w["num_bits"].get<int>();
  if (w.contains("type") && w["type"] != "int") return bad("type", "\"int\"");
  if (w.contains("symmetric") && !w["symmetric"].is_boolean()) return bad("symmetric", "true or false");
  c.symmetric = w.value("symmetric", true);
  const std::string strategy = w.contains("strategy") && w["strategy"].is_string() ? w["strategy"].get<std::string>() : "";
  const nlohmann::ordered_json gs = w.contains("group_size") ? w["group_size"] : nlohmann::ordered_json();
  if (strategy == "channel" || (strategy.empty() && gs.is_number_integer() && gs.get<int64_t>() == -1)) {
    c.group_size = -1;
  } else if (strategy == "group" || strategy.empty()) {
    if (!gs.is_number_integer() || gs.get<int64_t>() <= 0) return bad("group_size", "a positive integer for strategy group");
    c.group_size = gs.get<int64_t>();
  } else {
    return bad("strategy", "\"group\" or \"channel\"");
  }
  if (w.contains("dynamic") && w["dynamic"] != false) return bad("dynamic", "false");
  if (w.contains("actorder") && !w["actorder"].is_null()) {
    const nlohmann::ordered_json& a = w["actorder"];
    if (a == "weight" || a == "static" || a == false) {
      c.actorder = a.is_string() ? "weight" : "";
    } else if (a == "group" || a == "dynamic" || a == true) {
      return absl::UnimplementedError(StrCat(where, ".actorder ", a.dump(), ": weight_g_idx is not supported"));
    } else {
      return bad("actorder", "null, \"weight\" or \"group\"");
    }
  }
  if (w.contains("observer") && w["observer"].is_string()) c.observer = w["observer"].get<std::string>();
  return c;
}

absl::StatusOr<std::vector<int64_t>> ReadI64(const TensorEntry& e) {
  QC_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadAll(*e.source, e.info.byte_size()));
  std::vector<int64_t> v(bytes.size() / 8);
  std::memcpy(v.data(), bytes.data(), v.size() * 8);
  return v;
}

}  // namespace

std::optional<PackedIntEntries> FindPackedInt(const TensorTable& tensors, std::string_view weight_name) {
  PackedIntEntries e;
  e.packed = tensors.Find(StrCat(weight_name, kPackedSuffix));
  if (e.packed == nullptr) return std::nullopt;
  e.scale = tensors.Find(StrCat(weight_name, kScaleSuffix));
  e.zero_point = tensors.Find(StrCat(weight_name, kZeroPointSuffix));
  e.shape = tensors.Find(StrCat(weight_name, kShapeSuffix));
  e.g_idx = tensors.Find(StrCat(weight_name, kGIdxSuffix));
  return e;
}

absl::StatusOr<PackedIntConfig> PackedIntConfigOf(const Model& model) {
  auto qc = model.config.find("quantization_config");
  if (qc == model.config.end() || !qc->is_object()) {
    return absl::NotFoundError("config.json has no quantization_config (pack-quantized weights need one)");
  }
  if (qc->value("quant_method", "") != "compressed-tensors") {
    return absl::InvalidArgumentError(StrCat(kWhere, ".quant_method is ", qc->contains("quant_method") ? (*qc)["quant_method"].dump() : "missing",
                                             ", expected \"compressed-tensors\""));
  }
  if (qc->value("format", "") != "pack-quantized") {
    return absl::InvalidArgumentError(StrCat(kWhere, ".format is ", qc->contains("format") ? (*qc)["format"].dump() : "missing",
                                             ", expected \"pack-quantized\""));
  }
  auto groups = qc->find("config_groups");
  if (groups == qc->end() || !groups->is_object() || groups->empty()) {
    return absl::InvalidArgumentError(StrCat(kWhere, ".config_groups must be a non-empty object"));
  }
  std::optional<PackedIntConfig> first;
  for (auto it = groups->begin(); it != groups->end(); ++it) {
    const std::string where = StrCat(kWhere, ".config_groups.", it.key(), ".weights");
    if (!it.value().is_object() || !it.value().contains("weights")) return absl::InvalidArgumentError(StrCat(where, " is missing"));
    QC_ASSIGN_OR_RETURN(PackedIntConfig c, ParseWeights(it.value()["weights"], where));
    if (first && (c.bits != first->bits || c.group_size != first->group_size || c.symmetric != first->symmetric)) {
      return absl::UnimplementedError(StrCat(kWhere, ".config_groups: groups with different weight schemes (mixed precision)"));
    }
    if (!first) first = c;
  }
  return *first;
}

void SetPackedIntConfig(Model& model, const PackedIntConfig& c, std::span<const std::string> ignore) {
  nlohmann::ordered_json weights = {
      {"actorder", c.actorder.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(c.actorder)},
      {"block_structure", nullptr},
      {"dynamic", false},
      {"group_size", c.group_size > 0 ? nlohmann::ordered_json(c.group_size) : nlohmann::ordered_json()},
      {"num_bits", c.bits},
      {"observer", c.observer},
      {"observer_kwargs", nlohmann::ordered_json::object()},
      {"strategy", c.group_size > 0 ? "group" : "channel"},
      {"symmetric", c.symmetric},
      {"type", "int"},
  };
  nlohmann::ordered_json group = {
      {"input_activations", nullptr},
      {"output_activations", nullptr},
      {"targets", {"Linear"}},
      {"weights", std::move(weights)},
  };
  model.config["quantization_config"] = {
      {"config_groups", {{"group_0", std::move(group)}}},
      {"format", "pack-quantized"},
      {"global_compression_ratio", nullptr},
      {"ignore", std::vector<std::string>(ignore.begin(), ignore.end())},
      {"kv_cache_scheme", nullptr},
      {"quant_method", "compressed-tensors"},
      {"quantization_status", "compressed"},
  };
}

absl::StatusOr<std::pair<int64_t, int64_t>> CheckPackedInt(std::string_view weight_name, const PackedIntEntries& e,
                                                           const PackedIntConfig& c) {
  auto missing = [&](std::string_view suffix) {
    return absl::InvalidArgumentError(StrCat("tensor '", e.packed->name, "' has no companion '", weight_name, suffix, "'"));
  };
  auto wrong = [&](const TensorEntry& t, std::string_view expected) {
    return absl::InvalidArgumentError(StrCat("tensor '", t.name, "' (", t.origin, ") is ", Name(t.info.dtype), " ",
                                             ShapeToString(t.info.shape), ", expected ", expected));
  };
  if (e.scale == nullptr) return missing(kScaleSuffix);
  if (e.shape == nullptr) return missing(kShapeSuffix);
  if (e.g_idx != nullptr) {
    return absl::UnimplementedError(StrCat("tensor '", e.g_idx->name, "': activation-ordered groups (weight_g_idx) are not supported"));
  }
  if (e.shape->info.shape == Shape{3} || e.packed->info.shape.size() == 3) {
    return absl::UnimplementedError(StrCat("tensor '", e.packed->name, "': stacked 3-D pack-quantized weights are not "
                                           "supported (Hugging Face layout stores each expert as its own 2-D weight)"));
  }
  if (e.shape->info.dtype != DType::kI64 || e.shape->info.shape != Shape{2}) return wrong(*e.shape, "I64 [2]");
  QC_ASSIGN_OR_RETURN(std::vector<int64_t> dims, ReadI64(*e.shape));
  const int64_t out = dims[0], in = dims[1];
  if (out <= 0 || in <= 0) {
    return absl::InvalidArgumentError(StrCat("tensor '", e.shape->name, "' holds [", out, ", ", in, "]"));
  }
  const int64_t words = (in * c.bits + 31) / 32;
  if (e.packed->info.dtype != DType::kI32 || e.packed->info.shape != Shape{out, words}) {
    return wrong(*e.packed, StrCat("I32 ", ShapeToString({out, words}), " for int", c.bits, " [", out, ", ", in, "]"));
  }
  const int64_t group = c.group_size > 0 ? c.group_size : in;
  const int64_t groups = (in + group - 1) / group;  // the last group is ragged when group does not divide in
  const DType sd = e.scale->info.dtype;
  if ((sd != DType::kF32 && sd != DType::kBF16 && sd != DType::kF16) || e.scale->info.shape != Shape{out, groups}) {
    return wrong(*e.scale, StrCat("F32/BF16/F16 ", ShapeToString({out, groups})));
  }
  if (!c.symmetric) {
    if (e.zero_point == nullptr) return missing(kZeroPointSuffix);
    const Shape zs{(out * c.bits + 31) / 32, groups};
    if (e.zero_point->info.dtype != DType::kI32 || e.zero_point->info.shape != zs) return wrong(*e.zero_point, StrCat("I32 ", ShapeToString(zs)));
  }
  return std::pair<int64_t, int64_t>{out, in};
}

}  // namespace quantc
