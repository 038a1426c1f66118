#include "formats/safetensors/writer.h"

#include <algorithm>
#include <memory>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"
#include "formats/safetensors/header.h"
#include "formats/safetensors/reader.h"
#include "lib/support/file_util.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::formats::safetensors {
namespace {

namespace fs = std::filesystem;

absl::Status Invalid(std::string_view where, std::string_view tensor, std::string_view what) {
  return absl::InvalidArgumentError(StrCat(where, ": tensor ", QuoteName(tensor), ": ", what));
}

// Byte size of a tensor that is about to be written, checked (a writer must not trust its input).
absl::StatusOr<uint64_t> CheckedEntrySize(const TensorEntry& e, std::string_view where) {
  absl::StatusOr<uint64_t> size = CheckedByteSize(e.info);
  if (!size.ok()) {
    return Invalid(where, e.name,
                   StrCat(Name(e.info.dtype), " ", ShapeToString(e.info.shape), ": ", size.status().message()));
  }
  return *size;
}

void EncodeLittleEndian64(uint64_t v, uint8_t* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}

// Streams one tensor into `out`, checking that its source yields exactly `expected` bytes.
absl::Status StreamTensor(const TensorEntry& e, uint64_t expected, OutputFile& out, Progress* progress) {
  QC_RETURN_IF_ERROR(StreamExactly(e, expected, out.path().string(), QuoteName(e.name),
                                   [&](std::span<const uint8_t> chunk) -> absl::Status {
                                     QC_RETURN_IF_ERROR(out.Write(chunk));
                                     if (progress != nullptr) progress->Advance(chunk.size());
                                     return absl::OkStatus();
                                   }));
  if (progress != nullptr) progress->Advance(0, 1);
  return absl::OkStatus();
}

absl::Status WriteBody(OutputFile& out, const std::string& header, std::span<const TensorEntry* const> ordered,
                       std::span<const uint64_t> sizes, Progress* progress) {
  uint8_t len[8];
  EncodeLittleEndian64(header.size(), len);
  QC_RETURN_IF_ERROR(out.Write(std::span<const uint8_t>(len, 8)));
  QC_RETURN_IF_ERROR(out.Write(std::string_view(header)));
  for (size_t i = 0; i < ordered.size(); ++i) {
    QC_RETURN_IF_ERROR(StreamTensor(*ordered[i], sizes[i], out, progress));
  }
  return absl::OkStatus();
}

}  // namespace

std::string ShardFileName(size_t index_from_1, size_t count) {
  return absl::StrFormat("model-%05d-of-%05d.safetensors", index_from_1, count);
}

absl::Status WriteSafetensorsFile(std::span<const TensorEntry* const> tensors, const fs::path& path,
                                  const std::map<std::string, std::string>& metadata, Progress* progress) {
  const std::string where = path.string();
  for (const auto& [k, v] : metadata) {
    if (!IsValidUtf8(k) || !IsValidUtf8(v)) {
      return absl::InvalidArgumentError(
          StrCat(where, ": __metadata__ entry ", QuoteName(k), " is not valid UTF-8"));
    }
  }
  absl::flat_hash_set<std::string_view> names;
  for (const TensorEntry* e : tensors) {
    if (e == nullptr) return absl::InvalidArgumentError(StrCat(where, ": null tensor entry"));
    if (e->name.empty() || e->name == kMetadataKey || !IsValidUtf8(e->name)) {
      return Invalid(where, e->name, "not a valid safetensors tensor name");
    }
    if (!names.insert(e->name).second) return Invalid(where, e->name, "appears twice");
    if (e->source == nullptr) return Invalid(where, e->name, "has no data source");
  }

  // Python/Rust order: dtype descending in safetensors' Dtype order, then name ascending (bytewise).
  std::vector<const TensorEntry*> ordered(tensors.begin(), tensors.end());
  std::sort(ordered.begin(), ordered.end(), [](const TensorEntry* a, const TensorEntry* b) {
    if (a->info.dtype != b->info.dtype) return a->info.dtype > b->info.dtype;
    return a->name < b->name;
  });
  std::vector<uint64_t> sizes;
  std::vector<HeaderTensor> layout;
  sizes.reserve(ordered.size());
  layout.reserve(ordered.size());
  uint64_t offset = 0;
  for (const TensorEntry* e : ordered) {
    QC_ASSIGN_OR_RETURN(uint64_t size, CheckedEntrySize(*e, where));
    if (size > UINT64_MAX - offset) return Invalid(where, e->name, "file size overflows 64 bits");
    layout.push_back(HeaderTensor{.name = e->name, .info = e->info, .begin = offset, .end = offset + size});
    sizes.push_back(size);
    offset += size;
  }
  const std::string header = SerializeHeader(metadata, layout);
  if (header.size() > kMaxHeaderBytes) {
    return absl::InvalidArgumentError(StrCat(where, ": header of ", header.size(),
                                                   " bytes exceeds the readers' limit of ", kMaxHeaderBytes));
  }

  return OutputFile::WriteNew(path, [&](OutputFile& out) { return WriteBody(out, header, ordered, sizes, progress); });
}

absl::Status WriteSafetensorsShards(const TensorTable& tensors, const fs::path& folder,
                                    const SafetensorsWriteOptions& options) {
  const std::string where = folder.string();
  if (tensors.empty()) return absl::InvalidArgumentError(StrCat(where, ": no tensors to write"));
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) {
    return absl::Status(absl::ErrnoToStatusCode(ec.value()),
                        StrCat(where, ": cannot create folder: ", ec.message()));
  }

  // Greedy in table order: a new shard starts when the next tensor would push the current one past
  // the limit, so a tensor larger than the limit ends up alone.
  std::vector<std::vector<const TensorEntry*>> shards(1);
  uint64_t shard_bytes = 0, total_size = 0;
  for (const TensorEntry& e : tensors.entries()) {
    QC_ASSIGN_OR_RETURN(uint64_t size, CheckedEntrySize(e, where));
    if (!shards.back().empty() && (size > options.max_shard_bytes || shard_bytes > options.max_shard_bytes - size)) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(&e);
    shard_bytes += size;
    total_size += size;
  }

  std::map<std::string, std::string> metadata = options.metadata;
  metadata.insert_or_assign("format", "pt");
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string file_name = ShardFileName(i + 1, shards.size());
    QC_RETURN_IF_ERROR(WriteSafetensorsFile(shards[i], folder / file_name, metadata, options.progress));
    for (const TensorEntry* e : shards[i]) weight_map[e->name] = file_name;
  }

  // transformers: json.dumps(index, indent=2, sort_keys=True) + "\n" (nlohmann objects are sorted and
  // ensure_ascii matches Python's default escaping).
  nlohmann::json index = {{"metadata", {{"total_size", total_size}}}, {"weight_map", std::move(weight_map)}};
  std::string text;
  try {
    text = index.dump(2, ' ', /*ensure_ascii=*/true) + "\n";
  } catch (const nlohmann::json::exception& e) {  // names were checked as UTF-8, so not expected
    return absl::InternalError(StrCat(where, ": cannot serialize ", kIndexFileName, ": ", e.what()));
  }
  return WriteStringToFile(folder / kIndexFileName, text);
}

}  // namespace quantc::formats::safetensors
