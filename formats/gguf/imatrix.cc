#include "formats/gguf/imatrix.h"

#include <cmath>
#include <cstring>
#include <optional>
#include <tuple>

#include "formats/gguf/reader.h"
#include "formats/gguf/writer.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::formats::gguf {
namespace {

constexpr std::string_view kSums = ".in_sum2", kCounts = ".counts";

absl::StatusOr<std::vector<float>> F32Values(const TensorEntry& e, const std::string& where) {
  if (e.info.dtype != DType::kF32) {
    return absl::InvalidArgumentError(StrCat(where, ": tensor '", e.name, "' is ", Name(e.info.dtype), ", expected F32"));
  }
  QC_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadAll(*e.source, e.info.byte_size()));
  std::vector<float> v(bytes.size() / 4);
  // A tensor may hold no values (a dimension of 0); memcpy from an empty vector's null data() is UB.
  if (!v.empty()) std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

std::shared_ptr<const TensorSource> F32Source(const std::vector<float>& v) {
  std::vector<uint8_t> bytes(v.size() * 4);
  if (!v.empty()) std::memcpy(bytes.data(), v.data(), bytes.size());  // as in F32Values
  return std::make_shared<OwnedTensorSource>(std::move(bytes));
}

}  // namespace

absl::StatusOr<ImportanceMatrix> ReadImatrix(const std::filesystem::path& path) {
  QC_ASSIGN_OR_RETURN(GgufFile file, ReadGgufFile(path));
  const std::string where = path.string();
  ImportanceMatrix im;
  im.source = path.filename().string();
  const MetaValue* datasets = file.metadata.Find("imatrix.datasets");
  const MetaValue* chunks = file.metadata.Find("imatrix.chunk_count");
  const MetaValue* chunk_size = file.metadata.Find("imatrix.chunk_size");
  if (datasets == nullptr || chunks == nullptr || chunk_size == nullptr) {
    return absl::InvalidArgumentError(StrCat(where, ": key '",
                                             datasets == nullptr ? "imatrix.datasets" : chunks == nullptr ? "imatrix.chunk_count" : "imatrix.chunk_size",
                                             "' is missing (not an imatrix GGUF?)"));
  }
  const auto* names = datasets->GetArray<std::string>();
  if (names == nullptr) return absl::InvalidArgumentError(StrCat(where, ": key 'imatrix.datasets' is not a string array"));
  im.datasets = *names;
  for (auto [key, value, out] : {std::tuple{"imatrix.chunk_count", chunks, &im.chunk_count},
                                 std::tuple{"imatrix.chunk_size", chunk_size, &im.chunk_size}}) {
    const std::optional<uint32_t> v = value->Get<uint32_t>();
    if (!v) return absl::InvalidArgumentError(StrCat(where, ": key '", key, "' is not a u32"));
    *out = *v;
  }
  std::map<std::string, const TensorEntry*> counts;
  for (const TensorEntry& e : file.tensors) {
    if (e.name.ends_with(kCounts)) counts[e.name.substr(0, e.name.size() - kCounts.size())] = &e;
  }
  for (const TensorEntry& e : file.tensors) {
    if (!e.name.ends_with(kSums)) continue;
    const std::string weight = e.name.substr(0, e.name.size() - kSums.size());
    auto c = counts.find(weight);
    if (c == counts.end()) return absl::InvalidArgumentError(StrCat(where, ": tensor '", weight, ".counts' is missing"));
    ImportanceEntry entry;
    if (e.info.shape.empty() || e.info.shape.size() > 2) {
      return absl::InvalidArgumentError(StrCat(where, ": tensor '", e.name, "' has shape ", ShapeToString(e.info.shape)));
    }
    entry.n_per_row = e.info.shape.back();
    entry.n_mat = e.info.shape.size() == 2 ? e.info.shape[0] : 1;
    QC_ASSIGN_OR_RETURN(entry.in_sum2, F32Values(e, where));
    QC_ASSIGN_OR_RETURN(entry.counts, F32Values(*c->second, where));
    if (static_cast<int64_t>(entry.counts.size()) != entry.n_mat) {
      return absl::InvalidArgumentError(StrCat(where, ": tensor '", weight, ".counts' has ", entry.counts.size(), " values for ",
                                               entry.n_mat, " matrices"));
    }
    // Sums of squares and row counts: a negative or non-finite one would turn the quantizer's
    // weights (in_sum2 / counts) into NaN far from here.
    for (const auto* values : {&entry.in_sum2, &entry.counts}) {
      for (float v : *values) {
        if (!std::isfinite(v) || v < 0) {
          return absl::InvalidArgumentError(StrCat(where, ": tensor '", weight, values == &entry.counts ? ".counts" : ".in_sum2",
                                                   "' holds ", v, " (sums of squares and counts are finite and >= 0)"));
        }
      }
    }
    im.entries.emplace(weight, std::move(entry));
  }
  return im;
}

absl::Status WriteImatrix(const ImportanceMatrix& im, const std::filesystem::path& path) {
  Model model;
  model.layout = "gguf";
  model.metadata.Set("general.type", MetaValue::String("imatrix"));
  model.metadata.Set("imatrix.datasets", MetaValue::StringArray(im.datasets));
  model.metadata.Set("imatrix.chunk_count", MetaValue::U32(static_cast<uint32_t>(im.chunk_count)));
  model.metadata.Set("imatrix.chunk_size", MetaValue::U32(static_cast<uint32_t>(im.chunk_size)));
  for (const auto& [name, e] : im.entries) {  // std::map: sorted names, as llama-imatrix stores them
    // ggml drops trailing dims of 1 (ggml_n_dims), so a plain matrix's entry is 1-D, as llama-imatrix writes it.
    const Shape sums = e.n_mat == 1 ? Shape{e.n_per_row} : Shape{e.n_mat, e.n_per_row};
    const Shape counts = e.n_mat == 1 ? Shape{1} : Shape{e.n_mat, 1};
    QC_RETURN_IF_ERROR(model.tensors.Add({StrCat(name, kSums), {DType::kF32, sums}, F32Source(e.in_sum2), ""}));
    QC_RETURN_IF_ERROR(model.tensors.Add({StrCat(name, kCounts), {DType::kF32, counts}, F32Source(e.counts), ""}));
  }
  return WriteGguf(model, path, {});
}

}  // namespace quantc::formats::gguf
