// GGUF v3 writer: see writer.h. Layout per gguf-llamacpp.md §1; every rule that llama.cpp's reader
// (gguf.cpp at 81ff7abe) enforces is checked here before anything is written.
#include "formats/gguf/writer.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "formats/gguf/gguf_types.h"
#include "lib/support/file_util.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::formats::gguf {
namespace {

namespace fs = std::filesystem;
static_assert(std::endian::native == std::endian::little, "GGUF is written as host-order little-endian");

// The header under construction: fixed-width little-endian scalars and GGUF strings.
class HeaderBytes {
 public:
  template <typename T>
    requires std::is_arithmetic_v<T>
  void Put(T v) {
    char raw[sizeof(T)];
    std::memcpy(raw, &v, sizeof(T));
    out_.append(raw, sizeof(T));
  }
  void PutString(std::string_view s) {
    Put<uint64_t>(s.size());
    out_.append(s);
  }
  std::string& str() { return out_; }

 private:
  std::string out_;
};

template <typename T>
constexpr MetaType MetaTypeOf() {
  if constexpr (std::is_same_v<T, uint8_t>) return MetaType::kU8;
  else if constexpr (std::is_same_v<T, int8_t>) return MetaType::kI8;
  else if constexpr (std::is_same_v<T, uint16_t>) return MetaType::kU16;
  else if constexpr (std::is_same_v<T, int16_t>) return MetaType::kI16;
  else if constexpr (std::is_same_v<T, uint32_t>) return MetaType::kU32;
  else if constexpr (std::is_same_v<T, int32_t>) return MetaType::kI32;
  else if constexpr (std::is_same_v<T, float>) return MetaType::kF32;
  else if constexpr (std::is_same_v<T, bool>) return MetaType::kBool;
  else if constexpr (std::is_same_v<T, std::string>) return MetaType::kString;
  else if constexpr (std::is_same_v<T, uint64_t>) return MetaType::kU64;
  else if constexpr (std::is_same_v<T, int64_t>) return MetaType::kI64;
  else return MetaType::kF64;
}

absl::Status BadKey(std::string_view where, std::string_view key, std::string_view what) {
  return absl::InvalidArgumentError(StrCat(where, ": key ", Quote(key), ": ", what));
}
absl::Status BadTensor(std::string_view where, std::string_view tensor, std::string_view what) {
  return absl::InvalidArgumentError(StrCat(where, ": tensor ", Quote(tensor), ": ", what));
}

// A key and its value as llama.cpp's reader will accept them (non-empty key, no nested arrays, a
// scalar holding one element, the element vector matching the declared type, ggml's size limits).
absl::Status CheckKv(std::string_view where, const std::string& key, const MetaValue& value) {
  if (key.empty()) return absl::InvalidArgumentError(StrCat(where, ": empty metadata key"));
  if (key.size() > kMaxKeyBytes) return BadKey(where, key, StrCat("longer than ", kMaxKeyBytes, " bytes"));
  if (value.type == MetaType::kArray || static_cast<uint32_t>(value.type) > static_cast<uint32_t>(MetaType::kF64)) {
    return BadKey(where, key, StrCat("invalid element type ", static_cast<uint32_t>(value.type),
                                     " (arrays of arrays are not allowed)"));
  }
  return std::visit(
      [&](const auto& v) -> absl::Status {
        using T = typename std::decay_t<decltype(v)>::value_type;
        if (MetaTypeOf<T>() != value.type) {
          return BadKey(where, key, StrCat("declared ", MetaTypeName(value.type), " but holds ",
                                           MetaTypeName(MetaTypeOf<T>()), " values"));
        }
        if (!value.is_array && v.size() != 1) {
          return BadKey(where, key, StrCat("a scalar holding ", v.size(), " values"));
        }
        if (v.size() > kMaxArrayElements) {
          return BadKey(where, key,
                        StrCat("array of ", v.size(), " elements exceeds ggml's limit of ", kMaxArrayElements));
        }
        if constexpr (std::is_same_v<T, std::string>) {
          for (const std::string& s : v) {
            if (s.size() > kMaxStringBytes) {
              return BadKey(where, key,
                            StrCat("string of ", s.size(), " bytes exceeds ggml's limit of ", kMaxStringBytes));
            }
          }
        }
        return absl::OkStatus();
      },
      value.elements);
}

void EncodeKv(HeaderBytes& out, std::string_view key, const MetaValue& value) {
  out.PutString(key);
  if (value.is_array) {
    out.Put<uint32_t>(static_cast<uint32_t>(MetaType::kArray));
    out.Put<uint32_t>(static_cast<uint32_t>(value.type));
    out.Put<uint64_t>(value.size());
  } else {
    out.Put<uint32_t>(static_cast<uint32_t>(value.type));
  }
  std::visit(
      [&](const auto& v) {
        using T = typename std::decay_t<decltype(v)>::value_type;
        for (const auto& e : v) {
          if constexpr (std::is_same_v<T, std::string>) out.PutString(e);
          else if constexpr (std::is_same_v<T, bool>) out.Put<uint8_t>(e ? 1 : 0);
          else out.Put<T>(e);
        }
      },
      value.elements);
}

uint64_t PadTo(uint64_t n, uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

struct PlannedTensor {
  const TensorEntry* entry;
  uint32_t type_id;
  uint64_t bytes;   // data bytes
  uint64_t padded;  // bytes rounded up to the alignment
};

struct Plan {
  uint32_t alignment = kDefaultAlignment;
  bool alignment_in_metadata = false;
  std::vector<std::vector<PlannedTensor>> shards;  // one per output file
  std::vector<fs::path> files;
  bool split = false;
};

// Checks one tensor against llama.cpp's reader and returns its type id and sizes.
absl::StatusOr<PlannedTensor> PlanTensor(std::string_view where, const TensorEntry& e, uint32_t alignment) {
  if (e.name.empty()) return absl::InvalidArgumentError(StrCat(where, ": a tensor has an empty name"));
  if (e.name.size() > kMaxTensorNameBytes) {
    return BadTensor(where, e.name,
                     StrCat("name is ", e.name.size(), " bytes, GGUF allows at most ", kMaxTensorNameBytes));
  }
  if (e.name.find('\0') != std::string::npos) return BadTensor(where, e.name, "name contains a NUL byte");
  if (e.source == nullptr) return BadTensor(where, e.name, "has no data source");
  const std::optional<uint32_t> type_id = GgmlTypeId(e.info.dtype);
  if (!type_id) {
    return BadTensor(where, e.name,
                     StrCat("dtype ", Name(e.info.dtype), " has no GGUF tensor type (GGUF holds F32, F16, BF16, F64, ",
                            "I8/I16/I32/I64 and ggml block types)"));
  }
  const Shape& shape = e.info.shape;
  if (shape.size() > kMaxDims) {
    return BadTensor(where, e.name, StrCat("shape ", ShapeToString(shape), " has ", shape.size(),
                                           " dims, GGUF allows at most ", kMaxDims));
  }
  for (int64_t d : shape) {
    // ggml's reader divides by ne[1..3] when it checks the element count, so no dim may be 0.
    if (d <= 0) {
      return BadTensor(where, e.name, StrCat("shape ", ShapeToString(shape), " has a dim that is not positive"));
    }
  }
  const int64_t ne0 = shape.empty() ? 1 : shape.back();
  const int block = Traits(e.info.dtype).block_elems;
  if (ne0 % block != 0) {
    return BadTensor(where, e.name, StrCat("shape ", ShapeToString(shape), ": the last dim (ggml ne[0]) ", ne0,
                                           " is not a multiple of ", GgmlTypeName(*type_id), "'s block size ", block));
  }
  absl::StatusOr<uint64_t> bytes = CheckedByteSize(e.info);
  if (!bytes.ok()) return BadTensor(where, e.name, std::string(bytes.status().message()));
  if (*bytes > UINT64_MAX - alignment) return BadTensor(where, e.name, "size overflows 64 bits");
  return PlannedTensor{&e, *type_id, *bytes, PadTo(*bytes, alignment)};
}

absl::StatusOr<Plan> MakePlan(const Model& model, const fs::path& path, const GgufWriteOptions& options) {
  const std::string where = path.string();
  Plan plan;
  // Alignment: the option, else the model's general.alignment, else 32. ggml reads the key with
  // gguf_get_val_u32, which asserts on any other type (corrections.md item 11).
  const MetaValue* meta_alignment = model.metadata.Find(kKeyAlignment);
  if (meta_alignment != nullptr) {
    std::optional<uint32_t> v = meta_alignment->Get<uint32_t>();
    if (meta_alignment->type != MetaType::kU32 || meta_alignment->is_array || !v) {
      return BadKey(where, kKeyAlignment, StrCat("must be a u32 scalar, is ", meta_alignment->DebugString()));
    }
    plan.alignment = *v;
    plan.alignment_in_metadata = true;
  }
  if (options.alignment != 0) plan.alignment = options.alignment;
  if (plan.alignment == 0 || !std::has_single_bit(plan.alignment)) {
    return BadKey(where, kKeyAlignment, StrCat("alignment ", plan.alignment, " is not a power of two"));
  }
  for (const auto& [key, value] : model.metadata.entries()) {
    if (key.starts_with(kSplitKeyPrefix)) {
      return BadKey(where, key, "split.* keys are written by the GGUF writer, not taken from the model");
    }
    QC_RETURN_IF_ERROR(CheckKv(where, key, value));
  }

  absl::flat_hash_set<std::string_view> names;
  std::vector<PlannedTensor> all;
  all.reserve(model.tensors.size());
  for (const TensorEntry& e : model.tensors.entries()) {
    QC_ASSIGN_OR_RETURN(PlannedTensor t, PlanTensor(where, e, plan.alignment));
    if (!names.insert(e.name).second) return BadTensor(where, e.name, "appears twice");
    all.push_back(t);
  }

  plan.split = options.split_max_bytes != 0;
  plan.shards.emplace_back();
  uint64_t shard_bytes = 0;
  for (const PlannedTensor& t : all) {
    if (plan.split && !plan.shards.back().empty() &&
        (t.padded > options.split_max_bytes || shard_bytes > options.split_max_bytes - t.padded)) {
      plan.shards.emplace_back();
      shard_bytes = 0;
    }
    if (t.padded > UINT64_MAX - shard_bytes) return BadTensor(where, t.entry->name, "data section overflows 64 bits");
    plan.shards.back().push_back(t);
    shard_bytes += t.padded;
  }
  if (plan.split) {
    if (plan.shards.size() > UINT16_MAX) {
      return absl::InvalidArgumentError(
          StrCat(where, ": ", plan.shards.size(), " shards; split.count is a u16 (raise the split size)"));
    }
    if (all.size() > static_cast<size_t>(INT32_MAX)) {
      return absl::InvalidArgumentError(StrCat(where, ": ", all.size(), " tensors; split.tensors.count is an i32"));
    }
    std::string stem = path.filename().string();
    if (stem.ends_with(".gguf")) stem.resize(stem.size() - 5);
    if (stem.empty()) return absl::InvalidArgumentError(StrCat(where, ": empty file name stem for split output"));
    for (size_t i = 0; i < plan.shards.size(); ++i) {
      plan.files.push_back(path.parent_path() / SplitFileName(stem, i + 1, plan.shards.size()));
    }
  } else {
    plan.files.push_back(path);
  }
  return plan;
}

// Header of shard `index`: magic, version, counts, KVs, tensor infos (no padding).
std::string BuildHeader(const Model& model, const Plan& plan, size_t index) {
  const std::vector<PlannedTensor>& tensors = plan.shards[index];
  std::vector<std::pair<std::string_view, MetaValue>> extra;  // writer-owned keys
  const bool write_alignment = plan.alignment != kDefaultAlignment;
  if (index == 0 && write_alignment && !plan.alignment_in_metadata) {
    extra.emplace_back(kKeyAlignment, MetaValue::U32(plan.alignment));
  }
  if (index > 0 && write_alignment) {
    // Later shards carry no model KVs, but without this key ggml would read them as 32-aligned.
    extra.emplace_back(kKeyAlignment, MetaValue::U32(plan.alignment));
  }
  if (plan.split) {
    uint64_t total = 0;
    for (const auto& shard : plan.shards) total += shard.size();
    // llama-gguf-split's order (it re-sets split.count last), so our shards match its bytes.
    extra.emplace_back(kKeySplitNo, MetaValue::U16(static_cast<uint16_t>(index)));
    extra.emplace_back(kKeySplitTensorsCount, MetaValue::I32(static_cast<int32_t>(total)));
    extra.emplace_back(kKeySplitCount, MetaValue::U16(static_cast<uint16_t>(plan.shards.size())));
  }
  const size_t model_kvs = index == 0 ? model.metadata.size() : 0;

  HeaderBytes h;
  h.str().append(kMagic, sizeof(kMagic));
  h.Put<uint32_t>(kVersion);
  h.Put<uint64_t>(tensors.size());
  h.Put<uint64_t>(model_kvs + extra.size());
  if (index == 0) {
    for (const auto& [key, value] : model.metadata.entries()) {
      if (key == kKeyAlignment) EncodeKv(h, key, MetaValue::U32(plan.alignment));  // the option may override it
      else EncodeKv(h, key, value);
    }
  }
  for (const auto& [key, value] : extra) EncodeKv(h, key, value);
  uint64_t offset = 0;
  for (const PlannedTensor& t : tensors) {
    h.PutString(t.entry->name);
    const Shape& shape = t.entry->info.shape;
    h.Put<uint32_t>(static_cast<uint32_t>(shape.size()));
    for (auto it = shape.rbegin(); it != shape.rend(); ++it) h.Put<int64_t>(*it);  // ne[0] = last numpy dim
    h.Put<uint32_t>(t.type_id);
    h.Put<uint64_t>(offset);
    offset += t.padded;
  }
  return std::move(h.str());
}

absl::Status WriteZeros(OutputFile& out, uint64_t n) {
  static constexpr uint8_t kZeros[4096] = {};
  while (n > 0) {
    const uint64_t k = std::min<uint64_t>(n, sizeof(kZeros));
    QC_RETURN_IF_ERROR(out.Write(std::span<const uint8_t>(kZeros, k)));
    n -= k;
  }
  return absl::OkStatus();
}

// Streams one tensor, checking that its source yields exactly its byte size, then pads it.
absl::Status StreamTensor(const PlannedTensor& t, OutputFile& out, Progress* progress) {
  const TensorEntry& e = *t.entry;
  QC_RETURN_IF_ERROR(StreamExactly(e, t.bytes, out.path().string(), Quote(e.name),
                                   [&](std::span<const uint8_t> chunk) -> absl::Status {
                                     QC_RETURN_IF_ERROR(out.Write(chunk));
                                     if (progress != nullptr) progress->Advance(chunk.size());
                                     return absl::OkStatus();
                                   }));
  QC_RETURN_IF_ERROR(WriteZeros(out, t.padded - t.bytes));
  if (progress != nullptr) progress->Advance(0, 1);
  return absl::OkStatus();
}

absl::Status WriteBody(OutputFile& out, const std::string& header, const Plan& plan, size_t index, Progress* progress) {
  QC_RETURN_IF_ERROR(out.Write(std::string_view(header)));
  // ggml's writer pads after the infos even when there are no tensors.
  QC_RETURN_IF_ERROR(WriteZeros(out, PadTo(header.size(), plan.alignment) - header.size()));
  for (const PlannedTensor& t : plan.shards[index]) QC_RETURN_IF_ERROR(StreamTensor(t, out, progress));
  return absl::OkStatus();
}

absl::Status WriteShard(const Model& model, const Plan& plan, size_t index, Progress* progress) {
  const fs::path& file = plan.files[index];
  const std::string header = BuildHeader(model, plan, index);
  return OutputFile::WriteNew(file, [&](OutputFile& out) { return WriteBody(out, header, plan, index, progress); });
}

}  // namespace

absl::StatusOr<std::vector<fs::path>> GgufOutputFiles(const Model& model, const fs::path& path,
                                                      const GgufWriteOptions& options) {
  QC_ASSIGN_OR_RETURN(Plan plan, MakePlan(model, path, options));
  return plan.files;
}

absl::Status WriteGguf(const Model& model, const fs::path& path, const GgufWriteOptions& options) {
  QC_ASSIGN_OR_RETURN(Plan plan, MakePlan(model, path, options));
  for (size_t i = 0; i < plan.files.size(); ++i) {
    absl::Status s = WriteShard(model, plan, i, options.progress);
    if (!s.ok()) {
      std::error_code ec;
      for (size_t j = 0; j < i; ++j) fs::remove(plan.files[j], ec);  // finished shards of a failed set are ours
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace quantc::formats::gguf
