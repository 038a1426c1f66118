#include "formats/safetensors/reader.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <set>
#include <system_error>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "formats/safetensors/header.h"
#include "lib/support/file_util.h"
#include "lib/support/mapped_file.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::formats::safetensors {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

uint64_t LoadLittleEndian64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// A weight_map value must name a file directly inside the folder.
bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

struct Index {
  std::vector<std::string> shard_names;                          // sorted, distinct
  absl::flat_hash_map<std::string, std::string> weight_map;      // tensor -> shard file name
};

absl::StatusOr<Index> ReadIndex(const fs::path& index_path) {
  const std::string where = index_path.string();
  QC_ASSIGN_OR_RETURN(std::string text, ReadFileToString(index_path));
  QC_ASSIGN_OR_RETURN(Json json, ParseJsonNoDuplicateKeys(text, where));
  if (!json.is_object()) return absl::DataLossError(StrCat(where, ": not a JSON object"));
  auto wm = json.find("weight_map");
  if (wm == json.end()) return absl::DataLossError(StrCat(where, ": missing \"weight_map\""));
  if (!wm->is_object()) return absl::DataLossError(StrCat(where, ": \"weight_map\" is not an object"));
  if (wm->empty()) return absl::DataLossError(StrCat(where, ": \"weight_map\" is empty"));

  Index index;
  std::set<std::string> shards;
  for (const auto& [tensor, file] : wm->items()) {
    if (!file.is_string()) {
      return absl::DataLossError(
          StrCat(where, ": weight_map entry for tensor ", QuoteName(tensor), " is not a string"));
    }
    const std::string& name = file.get_ref<const std::string&>();
    if (!IsPlainFileName(name)) {
      return absl::DataLossError(StrCat(where, ": weight_map maps tensor ", QuoteName(tensor), " to ",
                                              QuoteName(name), ", which is not a file name inside the folder"));
    }
    shards.insert(name);
    index.weight_map.emplace(tensor, name);
  }
  index.shard_names.assign(shards.begin(), shards.end());
  return index;
}

absl::StatusOr<SafetensorsCheckpoint> ReadIndexedCheckpoint(const fs::path& folder) {
  const fs::path index_path = folder / kIndexFileName;
  const std::string index_where = index_path.string();
  QC_ASSIGN_OR_RETURN(Index index, ReadIndex(index_path));

  // Read every shard's header first, so that a tensor stored twice is reported as such whatever
  // the index says about it.
  std::vector<SafetensorsFile> files;
  for (const std::string& shard_name : index.shard_names) {
    QC_ASSIGN_OR_RETURN(const fs::path shard_path, ResolveInsideFolder(folder, shard_name, index_where));
    std::error_code ec;
    // Two names for one file (a symlink or hard link) would read its tensors twice.
    for (size_t i = 0; i < files.size(); ++i) {
      if (fs::equivalent(files[i].path, shard_path, ec)) {
        return absl::DataLossError(StrCat(index_where, ": shards ", QuoteName(index.shard_names[i]), " and ",
                                          QuoteName(shard_name), " are the same file"));
      }
    }
    if (!fs::is_regular_file(shard_path, ec)) {
      return absl::NotFoundError(StrCat(index_where, ": names shard ", QuoteName(shard_name), ", but ",
                                              shard_path.string(), " does not exist or is not a file"));
    }
    QC_ASSIGN_OR_RETURN(SafetensorsFile file, ReadSafetensorsFile(shard_path));
    files.push_back(std::move(file));
  }
  absl::flat_hash_map<std::string, std::string> found_in;  // tensor -> shard it was read from
  for (size_t i = 0; i < files.size(); ++i) {
    for (const TensorEntry& e : files[i].tensors) {
      auto [it, inserted] = found_in.try_emplace(e.name, index.shard_names[i]);
      if (!inserted) {
        return absl::DataLossError(StrCat(files[i].path.string(), ": tensor ", QuoteName(e.name),
                                                " is also in shard ", QuoteName(it->second)));
      }
    }
  }

  SafetensorsCheckpoint ckpt;
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string& shard_name = index.shard_names[i];
    const std::string shard_where = files[i].path.string();
    for (TensorEntry& e : files[i].tensors) {
      auto mapped = index.weight_map.find(e.name);
      if (mapped == index.weight_map.end()) {
        return absl::DataLossError(StrCat(shard_where, ": tensor ", QuoteName(e.name), " is not listed in ",
                                                index_where));
      }
      if (mapped->second != shard_name) {
        return absl::DataLossError(StrCat(shard_where, ": tensor ", QuoteName(e.name), " is mapped to ",
                                                QuoteName(mapped->second), " by ", index_where));
      }
      ckpt.tensors.push_back(std::move(e));
    }
    if (i == 0) ckpt.metadata = std::move(files[i].metadata);
    ckpt.shard_files.push_back(files[i].path);
  }
  if (found_in.size() != index.weight_map.size()) {
    // Some indexed tensor was not in its shard; name the first one in name order (deterministic).
    std::vector<const std::pair<const std::string, std::string>*> missing;
    for (const auto& kv : index.weight_map) {
      if (!found_in.contains(kv.first)) missing.push_back(&kv);
    }
    auto first = *std::min_element(missing.begin(), missing.end(),
                                   [](const auto* a, const auto* b) { return a->first < b->first; });
    return absl::DataLossError(StrCat((folder / first->second).string(), ": tensor ", QuoteName(first->first),
                                            " is listed in ", index_where, " but absent from this shard"));
  }
  return ckpt;
}

}  // namespace

absl::StatusOr<SafetensorsFile> ReadSafetensorsFile(const fs::path& path) {
  QC_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> mapped, MappedFile::Open(path));
  const std::string where = path.string();
  std::span<const uint8_t> bytes = mapped->bytes();
  if (bytes.size() < 8) {
    return absl::DataLossError(
        StrCat(where, ": file is ", bytes.size(), " bytes, shorter than the 8-byte header length"));
  }
  const uint64_t header_len = LoadLittleEndian64(bytes.data());
  if (header_len > kMaxHeaderBytes) {
    return absl::DataLossError(StrCat(where, ": header length ", header_len, " exceeds the ",
                                            kMaxHeaderBytes, "-byte limit"));
  }
  if (header_len > bytes.size() - 8) {
    return absl::DataLossError(StrCat(where, ": header length ", header_len, " runs past the end of the ",
                                            bytes.size(), "-byte file"));
  }
  std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), header_len);
  const uint64_t data_start = 8 + header_len;
  QC_ASSIGN_OR_RETURN(Header header, ParseHeader(text, bytes.size() - data_start, where));

  SafetensorsFile file;
  file.path = path;
  file.metadata = std::move(header.metadata);
  file.tensors.reserve(header.tensors.size());
  const std::string origin = path.filename().string();
  for (HeaderTensor& t : header.tensors) {
    file.tensors.push_back(TensorEntry{
        .name = std::move(t.name),
        .info = std::move(t.info),
        .source = std::make_shared<MappedTensorSource>(mapped, data_start + t.begin, t.end - t.begin),
        .origin = origin,
    });
  }
  return file;
}

absl::StatusOr<SafetensorsCheckpoint> ReadSafetensorsCheckpoint(const fs::path& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) {
    return absl::NotFoundError(StrCat(path.string(), ": no such file or folder"));
  }
  if (fs::is_directory(st)) {
    if (fs::exists(path / kIndexFileName, ec)) return ReadIndexedCheckpoint(path);
    const fs::path single = path / kSingleFileName;
    if (!fs::exists(single, ec)) {
      return absl::NotFoundError(StrCat(path.string(), ": folder has neither ", kIndexFileName, " nor ",
                                              kSingleFileName));
    }
    QC_ASSIGN_OR_RETURN(SafetensorsFile file, ReadSafetensorsFile(single));
    return SafetensorsCheckpoint{.shard_files = {single},
                                 .tensors = std::move(file.tensors),
                                 .metadata = std::move(file.metadata)};
  }
  if (path.extension() != ".safetensors") {
    return absl::InvalidArgumentError(
        StrCat(path.string(), ": expected a .safetensors file or a folder holding a checkpoint"));
  }
  QC_ASSIGN_OR_RETURN(SafetensorsFile file, ReadSafetensorsFile(path));
  return SafetensorsCheckpoint{
      .shard_files = {path}, .tensors = std::move(file.tensors), .metadata = std::move(file.metadata)};
}

}  // namespace quantc::formats::safetensors
