// GGUF reader: see reader.h. Layout per gguf-llamacpp.md §1; checks mirror llama.cpp's gguf.cpp
// (81ff7abe) plus the two its newer version adds (empty keys, non-u32 general.alignment;
// corrections.md item 11).
#include "formats/gguf/reader.h"

#include <bit>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "formats/gguf/gguf_types.h"
#include "lib/support/file_util.h"
#include "lib/support/mapped_file.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::formats::gguf {
namespace {

namespace fs = std::filesystem;
static_assert(std::endian::native == std::endian::little, "GGUF is read as host-order little-endian");

// Smallest encodings, for bounding counts by the bytes left: a KV is at least a key length, one key
// byte, a type and a one-byte value; a tensor info a name length, one name byte, n_dims, type, offset.
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 4 + 8;

// Sequential little-endian reads over the mapped file; every error is DATA_LOSS "<file>: <what>...".
class Parser {
 public:
  Parser(std::string where, std::span<const uint8_t> bytes) : where_(std::move(where)), bytes_(bytes) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return bytes_.size() - pos_; }
  const std::string& where() const { return where_; }

  absl::Status Error(std::string_view what) const { return absl::DataLossError(StrCat(where_, ": ", what)); }

  absl::Status Need(uint64_t n, std::string_view what) const {
    if (n <= remaining()) return absl::OkStatus();
    return Error(StrCat(what, ": needs ", n, " bytes at offset ", pos_, " but the file ends at ", bytes_.size()));
  }

  template <typename T>
    requires std::is_arithmetic_v<T>
  absl::StatusOr<T> Read(std::string_view what) {
    QC_RETURN_IF_ERROR(Need(sizeof(T), what));
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  absl::StatusOr<std::string> ReadString(std::string_view what, uint64_t max_bytes) {
    QC_ASSIGN_OR_RETURN(uint64_t n, Read<uint64_t>(what));
    if (n > max_bytes) return Error(StrCat(what, ": length ", n, " exceeds the limit of ", max_bytes, " bytes"));
    if (n > remaining()) {
      return Error(StrCat(what, ": length ", n, " runs past the end of the ", bytes_.size(), "-byte file"));
    }
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
    pos_ += n;
    return s;
  }

 private:
  std::string where_;
  std::span<const uint8_t> bytes_;
  uint64_t pos_ = 0;
};

// Elements of one value of type T (n of them), into a MetaValue.
template <typename T>
absl::StatusOr<MetaValue> ReadElements(Parser& p, MetaType type, bool is_array, uint64_t n, const std::string& ctx) {
  constexpr uint64_t kMinElem = std::is_same_v<T, std::string> ? 8 : (std::is_same_v<T, bool> ? 1 : sizeof(T));
  if (n > kMaxArrayElements) {
    return p.Error(StrCat(ctx, ": array of ", n, " elements exceeds the limit of ", kMaxArrayElements));
  }
  if (n > p.remaining() / kMinElem) {
    return p.Error(StrCat(ctx, ": array of ", n, " ", MetaTypeName(type), " elements cannot fit in the ",
                          p.remaining(), " bytes left in the file"));
  }
  std::vector<T> v;
  v.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    if constexpr (std::is_same_v<T, std::string>) {
      QC_ASSIGN_OR_RETURN(std::string s, p.ReadString(is_array ? StrCat(ctx, ": element ", i) : ctx, kMaxStringBytes));
      v.push_back(std::move(s));
    } else if constexpr (std::is_same_v<T, bool>) {
      QC_ASSIGN_OR_RETURN(uint8_t b, p.Read<uint8_t>(ctx));
      if (b > 1) return p.Error(StrCat(ctx, ": bool value ", static_cast<int>(b), " is neither 0 nor 1"));
      v.push_back(b != 0);
    } else {
      QC_ASSIGN_OR_RETURN(T x, p.Read<T>(ctx));
      v.push_back(x);
    }
  }
  return MetaValue{type, is_array, std::move(v)};
}

absl::StatusOr<MetaValue> ReadValue(Parser& p, MetaType type, bool is_array, uint64_t n, const std::string& ctx) {
  switch (type) {
    case MetaType::kU8: return ReadElements<uint8_t>(p, type, is_array, n, ctx);
    case MetaType::kI8: return ReadElements<int8_t>(p, type, is_array, n, ctx);
    case MetaType::kU16: return ReadElements<uint16_t>(p, type, is_array, n, ctx);
    case MetaType::kI16: return ReadElements<int16_t>(p, type, is_array, n, ctx);
    case MetaType::kU32: return ReadElements<uint32_t>(p, type, is_array, n, ctx);
    case MetaType::kI32: return ReadElements<int32_t>(p, type, is_array, n, ctx);
    case MetaType::kF32: return ReadElements<float>(p, type, is_array, n, ctx);
    case MetaType::kBool: return ReadElements<bool>(p, type, is_array, n, ctx);
    case MetaType::kString: return ReadElements<std::string>(p, type, is_array, n, ctx);
    case MetaType::kU64: return ReadElements<uint64_t>(p, type, is_array, n, ctx);
    case MetaType::kI64: return ReadElements<int64_t>(p, type, is_array, n, ctx);
    case MetaType::kF64: return ReadElements<double>(p, type, is_array, n, ctx);
    case MetaType::kArray: break;
  }
  return p.Error(StrCat(ctx, ": invalid value type ", static_cast<uint32_t>(type)));
}

absl::Status ReadKvs(Parser& p, uint64_t n_kv, Metadata& out) {
  absl::flat_hash_set<std::string> seen;
  for (uint64_t i = 0; i < n_kv; ++i) {
    QC_ASSIGN_OR_RETURN(std::string key, p.ReadString(StrCat("key #", i), kMaxKeyBytes));
    if (key.empty()) return p.Error(StrCat("key #", i, " is empty"));
    const std::string ctx = StrCat("key ", Quote(key));
    if (!seen.insert(key).second) return p.Error(StrCat(ctx, " appears twice"));
    QC_ASSIGN_OR_RETURN(uint32_t type, p.Read<uint32_t>(StrCat(ctx, ": value type")));
    bool is_array = false;
    uint64_t n = 1;
    if (type == static_cast<uint32_t>(MetaType::kArray)) {
      is_array = true;
      QC_ASSIGN_OR_RETURN(type, p.Read<uint32_t>(StrCat(ctx, ": array element type")));
      if (type == static_cast<uint32_t>(MetaType::kArray)) {
        return p.Error(StrCat(ctx, ": array of arrays (nested arrays are not allowed)"));
      }
      QC_ASSIGN_OR_RETURN(n, p.Read<uint64_t>(StrCat(ctx, ": array length")));
    }
    if (type > static_cast<uint32_t>(MetaType::kF64)) return p.Error(StrCat(ctx, ": invalid value type ", type));
    QC_ASSIGN_OR_RETURN(MetaValue value, ReadValue(p, static_cast<MetaType>(type), is_array, n, ctx));
    out.Set(std::move(key), std::move(value));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> Alignment(const Parser& p, const Metadata& metadata) {
  const MetaValue* v = metadata.Find(kKeyAlignment);
  if (v == nullptr) return kDefaultAlignment;
  if (v->type != MetaType::kU32 || v->is_array) {
    return p.Error(StrCat("key ", Quote(kKeyAlignment), " must be a u32 scalar, is ", v->DebugString()));
  }
  const uint32_t a = *v->Get<uint32_t>();
  if (a == 0 || !std::has_single_bit(a)) {
    return p.Error(StrCat("key ", Quote(kKeyAlignment), ": alignment ", a, " is not a power of two"));
  }
  return a;
}

uint64_t PadTo(uint64_t n, uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

struct RawInfo {
  std::string name;
  Shape shape;  // numpy order
  DType dtype;
  uint64_t bytes;
  uint64_t offset;
};

absl::StatusOr<RawInfo> ReadTensorInfo(Parser& p, uint64_t index, absl::flat_hash_set<std::string>& names) {
  RawInfo t;
  QC_ASSIGN_OR_RETURN(t.name, p.ReadString(StrCat("tensor #", index, " name"), kMaxStringBytes));
  if (t.name.empty()) return p.Error(StrCat("tensor #", index, " has an empty name"));
  const std::string ctx = StrCat("tensor ", Quote(t.name));
  if (t.name.size() > kMaxTensorNameBytes) {
    return p.Error(StrCat(ctx, ": name is ", t.name.size(), " bytes, GGUF allows at most ", kMaxTensorNameBytes));
  }
  if (t.name.find('\0') != std::string::npos) return p.Error(StrCat(ctx, ": name contains a NUL byte"));
  if (!names.insert(t.name).second) return p.Error(StrCat(ctx, " appears twice"));

  QC_ASSIGN_OR_RETURN(uint32_t n_dims, p.Read<uint32_t>(StrCat(ctx, ": n_dims")));
  if (n_dims > kMaxDims) return p.Error(StrCat(ctx, ": ", n_dims, " dims, at most ", kMaxDims, " allowed"));
  int64_t ne[kMaxDims] = {1, 1, 1, 1};
  uint64_t elements = 1;
  for (uint32_t j = 0; j < n_dims; ++j) {
    QC_ASSIGN_OR_RETURN(ne[j], p.Read<int64_t>(StrCat(ctx, ": ne[", j, "]")));
    if (ne[j] < 0) return p.Error(StrCat(ctx, ": ne[", j, "] = ", ne[j], " is negative"));
  }
  for (uint32_t j = 0; j < n_dims; ++j) {
    const auto d = static_cast<uint64_t>(ne[j]);
    if (d != 0 && elements > static_cast<uint64_t>(INT64_MAX) / d) {
      return p.Error(
          StrCat(ctx, ": element count of ne [", ne[0], ", ", ne[1], ", ", ne[2], ", ", ne[3], "] overflows"));
    }
    elements *= d;
  }
  for (uint32_t j = n_dims; j-- > 0;) t.shape.push_back(ne[j]);  // numpy order: ne reversed

  QC_ASSIGN_OR_RETURN(uint32_t type, p.Read<uint32_t>(StrCat(ctx, ": type")));
  const std::string_view type_name = GgmlTypeName(type);
  if (type_name.empty()) return p.Error(StrCat(ctx, ": invalid ggml type ", type));
  std::optional<DType> dtype = DTypeFromGgmlTypeId(type);
  if (!dtype) {
    return absl::UnimplementedError(
        StrCat(p.where(), ": ", ctx, ": ggml type ", type_name, " (", type, ") is not supported by quantc"));
  }
  t.dtype = *dtype;
  const int block = Traits(t.dtype).block_elems;
  if (ne[0] % block != 0) {
    return p.Error(StrCat(ctx, ": ne[0] = ", ne[0], " is not a multiple of ", type_name, "'s block size ", block));
  }
  absl::StatusOr<uint64_t> bytes = ByteSize(t.dtype, elements);
  if (!bytes.ok()) return p.Error(StrCat(ctx, ": ", bytes.status().message()));
  t.bytes = *bytes;
  QC_ASSIGN_OR_RETURN(t.offset, p.Read<uint64_t>(StrCat(ctx, ": offset")));
  return t;
}

// A scalar split.* key of the given type, or an error naming it.
template <typename T>
absl::StatusOr<T> SplitKey(const GgufFile& f, std::string_view key, MetaType type) {
  const MetaValue* v = f.metadata.Find(key);
  if (v == nullptr) {
    return absl::DataLossError(StrCat(f.path.string(), ": key ", Quote(key), " is missing in a split file"));
  }
  if (v->type != type || v->is_array) {
    return absl::DataLossError(StrCat(f.path.string(), ": key ", Quote(key), " must be a ", MetaTypeName(type),
                                      " scalar, is ", v->DebugString()));
  }
  return *v->Get<T>();
}

}  // namespace

absl::StatusOr<GgufFile> ReadGgufFile(const fs::path& path) {
  QC_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> mapped, MappedFile::Open(path));
  const std::span<const uint8_t> bytes = mapped->bytes();
  Parser p(path.string(), bytes);
  if (bytes.size() < 4 || std::memcmp(bytes.data(), kMagic, 4) != 0) {
    if (bytes.size() < 4) return p.Error(StrCat("file is ", bytes.size(), " bytes, too short for the GGUF magic"));
    return p.Error(StrCat("bad magic ", Quote(std::string_view(reinterpret_cast<const char*>(bytes.data()), 4)),
                          ", expected 'GGUF' (not a GGUF file)"));
  }
  (void)p.Read<uint32_t>("magic");

  GgufFile file;
  file.path = path;
  QC_ASSIGN_OR_RETURN(file.version, p.Read<uint32_t>("version"));
  if ((file.version & 0xFFFF) == 0 && file.version != 0) {
    return absl::UnimplementedError(StrCat(path.string(), ": version field ", file.version,
                                           " looks byte-swapped; big-endian GGUF is not supported"));
  }
  if (file.version == 1) return absl::UnimplementedError(StrCat(path.string(), ": GGUF v1 is not supported"));
  if (file.version != 2 && file.version != 3) {
    return p.Error(StrCat("unsupported GGUF version ", file.version, " (2 and 3 are read)"));
  }

  QC_ASSIGN_OR_RETURN(uint64_t n_tensors, p.Read<uint64_t>("tensor count"));
  QC_ASSIGN_OR_RETURN(uint64_t n_kv, p.Read<uint64_t>("key/value count"));
  if (n_kv > p.remaining() / kMinKvBytes) {
    return p.Error(StrCat("key/value count ", n_kv, " cannot fit in the ", bytes.size(), "-byte file"));
  }
  if (n_tensors > p.remaining() / kMinTensorInfoBytes) {
    return p.Error(StrCat("tensor count ", n_tensors, " cannot fit in the ", bytes.size(), "-byte file"));
  }
  QC_RETURN_IF_ERROR(ReadKvs(p, n_kv, file.metadata));
  QC_ASSIGN_OR_RETURN(file.alignment, Alignment(p, file.metadata));
  if (n_tensors > p.remaining() / kMinTensorInfoBytes) {
    return p.Error(StrCat("tensor count ", n_tensors, " cannot fit in the ", p.remaining(),
                          " bytes left after the key/values"));
  }

  std::vector<RawInfo> infos;
  infos.reserve(n_tensors);
  absl::flat_hash_set<std::string> names;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    QC_ASSIGN_OR_RETURN(RawInfo t, ReadTensorInfo(p, i, names));
    infos.push_back(std::move(t));
  }
  file.data_offset = PadTo(p.pos(), file.alignment);
  if (n_tensors > 0 && file.data_offset > bytes.size()) {
    return p.Error(StrCat("data section starts at ", file.data_offset, ", past the end of the ", bytes.size(),
                          "-byte file"));
  }
  // ggml requires each tensor to start exactly where the previous one's padded bytes end.
  uint64_t expected = 0;
  const std::string origin = path.filename().string();
  for (RawInfo& t : infos) {
    const std::string ctx = StrCat("tensor ", Quote(t.name));
    if (t.offset % file.alignment != 0) {
      return p.Error(StrCat(ctx, ": offset ", t.offset, " is not a multiple of the alignment ", file.alignment));
    }
    if (t.offset != expected) {
      return p.Error(StrCat(ctx, ": offset ", t.offset, ", expected ", expected,
                            " (tensors must be packed in info order, as llama.cpp requires)"));
    }
    const uint64_t room = bytes.size() - file.data_offset;
    if (t.offset > room || t.bytes > room - t.offset) {
      return p.Error(StrCat(ctx, ": data [", file.data_offset + t.offset, ", +", t.bytes, ") runs past the end of the ",
                            bytes.size(), "-byte file"));
    }
    expected = PadTo(t.offset + t.bytes, file.alignment);  // <= room + alignment, no overflow
    file.tensors.push_back(TensorEntry{
        .name = std::move(t.name),
        .info = TensorInfo{t.dtype, std::move(t.shape)},
        .source = std::make_shared<MappedTensorSource>(mapped, file.data_offset + t.offset, t.bytes),
        .origin = origin,
    });
  }
  return file;
}

absl::StatusOr<Model> ReadGguf(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return absl::NotFoundError(StrCat(path.string(), ": no such file"));
  QC_ASSIGN_OR_RETURN(GgufFile first, ReadGgufFile(path));
  std::vector<GgufFile> rest;
  uint16_t count = 0;
  if (first.metadata.Find(kKeySplitCount) != nullptr) {
    QC_ASSIGN_OR_RETURN(count, SplitKey<uint16_t>(first, kKeySplitCount, MetaType::kU16));
  }
  // Like llama.cpp's loader, split.count 0 or 1 is a whole model (llama-gguf-split --merge leaves 0).
  if (count > 1) {
    QC_ASSIGN_OR_RETURN(uint16_t no, SplitKey<uint16_t>(first, kKeySplitNo, MetaType::kU16));
    QC_ASSIGN_OR_RETURN(int32_t total, SplitKey<int32_t>(first, kKeySplitTensorsCount, MetaType::kI32));
    if (no >= count) {
      return absl::DataLossError(StrCat(path.string(), ": split.no ", no, " with split.count ", count));
    }
    std::optional<SplitName> name = ParseSplitFileName(path);
    if (no != 0) {
      std::string hint;
      if (name) {
        const fs::path first_shard = name->stem.parent_path() / SplitFileName(name->stem.filename().string(), 1, count);
        hint = StrCat("; read ", first_shard.string());
      }
      return absl::InvalidArgumentError(
          StrCat(path.string(), ": is shard ", no + 1, " of ", count, " of a split GGUF, not the first", hint));
    }
    if (!name || name->count != count || name->index_from_1 != 1) {
      return absl::DataLossError(StrCat(path.string(), ": split.count is ", count, " but the file is not named <stem>-",
                                        SplitFileName("", 1, count).substr(1), ", so its shards cannot be found"));
    }
    uint64_t n = first.tensors.size();
    for (uint16_t i = 1; i < count; ++i) {
      const std::string shard_name = SplitFileName(name->stem.filename().string(), i + 1, count);
      QC_ASSIGN_OR_RETURN(const fs::path shard, ResolveInsideFolder(name->stem.parent_path(), shard_name, path.string()));
      if (!fs::exists(shard, ec)) {
        return absl::NotFoundError(
            StrCat(path.string(), ": shard ", i + 1, " of ", count, ", ", shard.string(), ", is missing"));
      }
      QC_ASSIGN_OR_RETURN(GgufFile f, ReadGgufFile(shard));
      QC_ASSIGN_OR_RETURN(uint16_t f_count, SplitKey<uint16_t>(f, kKeySplitCount, MetaType::kU16));
      QC_ASSIGN_OR_RETURN(uint16_t f_no, SplitKey<uint16_t>(f, kKeySplitNo, MetaType::kU16));
      if (f_no != i || f_count != count) {
        return absl::DataLossError(
            StrCat(shard.string(), ": split.no ", f_no, " / split.count ", f_count, ", expected ", i, " / ", count));
      }
      n += f.tensors.size();
      rest.push_back(std::move(f));
    }
    if (total < 0 || n != static_cast<uint64_t>(total)) {
      return absl::DataLossError(StrCat(path.string(), ": split.tensors.count is ", total, " but the ", count,
                                        " shards hold ", n, " tensors"));
    }
  }

  Model model;
  model.source_path = path;
  model.layout = "gguf";
  for (const auto& [key, value] : first.metadata.entries()) {
    if (!key.starts_with(kSplitKeyPrefix)) model.metadata.Set(key, value);
  }
  absl::flat_hash_map<std::string, std::string> file_of;  // tensor -> file, for duplicates across shards
  auto add_all = [&](GgufFile& f) -> absl::Status {
    for (TensorEntry& e : f.tensors) {
      auto [it, inserted] = file_of.try_emplace(e.name, f.path.filename().string());
      if (!inserted) {
        return absl::DataLossError(StrCat(f.path.string(), ": tensor ", Quote(e.name), " is also in ", it->second));
      }
      QC_RETURN_IF_ERROR(model.tensors.Add(std::move(e)));
    }
    return absl::OkStatus();
  };
  QC_RETURN_IF_ERROR(add_all(first));
  for (GgufFile& f : rest) QC_RETURN_IF_ERROR(add_all(f));
  return model;
}

}  // namespace quantc::formats::gguf
