// A deliberately separate, minimal safetensors parser for tests: it lets a test check what
// quantc wrote without trusting quantc's own reader (formats/safetensors).
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace quantc::testing {

struct RawTensor {
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// An F32 tensor's values.
inline std::vector<float> AsFloats(const RawTensor& t) {
  std::vector<float> v(t.bytes.size() / 4);
  std::memcpy(v.data(), t.bytes.data(), t.bytes.size());
  return v;
}

inline std::vector<uint8_t> ReadBinaryFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// name -> tensor for one file ("__metadata__" is returned through `metadata`).
inline std::map<std::string, RawTensor> ReadRawSafetensors(const std::filesystem::path& path,
                                                           nlohmann::json* metadata = nullptr) {
  std::vector<uint8_t> file = ReadBinaryFile(path);
  // A missing or truncated golden is the test's failure, not a read past the buffer.
  if (file.size() < 8) {
    ADD_FAILURE() << path << ": missing or shorter than a safetensors header";
    return {};
  }
  uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  nlohmann::json header = nlohmann::json::parse(file.begin() + 8, file.begin() + 8 + static_cast<int64_t>(n));
  std::map<std::string, RawTensor> out;
  for (auto& [name, t] : header.items()) {
    if (name == "__metadata__") {
      if (metadata) *metadata = t;
      continue;
    }
    RawTensor r;
    r.dtype = t["dtype"];
    r.shape = t["shape"].get<std::vector<int64_t>>();
    uint64_t b = t["data_offsets"][0], e = t["data_offsets"][1];
    r.bytes.assign(file.begin() + 8 + n + b, file.begin() + 8 + n + e);
    out[name] = std::move(r);
  }
  return out;
}

// Every tensor of a checkpoint folder, read through its index (or model.safetensors).
inline std::map<std::string, RawTensor> ReadRawCheckpoint(const std::filesystem::path& folder) {
  std::map<std::string, RawTensor> all;
  std::vector<std::filesystem::path> files;
  if (std::filesystem::exists(folder / "model.safetensors.index.json")) {
    std::ifstream in(folder / "model.safetensors.index.json");
    nlohmann::json index = nlohmann::json::parse(in);
    std::map<std::string, bool> seen;
    for (auto& [name, file] : index["weight_map"].items()) seen[file.get<std::string>()] = true;
    for (auto& [file, _] : seen) files.push_back(folder / file);
  } else {
    files.push_back(folder / "model.safetensors");
  }
  for (const auto& f : files) all.merge(ReadRawSafetensors(f));
  return all;
}

}  // namespace quantc::testing

namespace quantc::testing {

// Writes tensors as one safetensors file (test-side writer, independent of formats/).
inline void WriteRawSafetensors(const std::filesystem::path& path, const std::map<std::string, RawTensor>& tensors) {
  nlohmann::ordered_json header;
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    header[name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string h = header.dump();
  while (h.size() % 8) h += ' ';
  std::ofstream out(path, std::ios::binary);
  uint64_t n = h.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out.write(h.data(), static_cast<std::streamsize>(h.size()));
  for (const auto& [name, t] : tensors) out.write(reinterpret_cast<const char*>(t.bytes.data()), static_cast<std::streamsize>(t.bytes.size()));
}

}  // namespace quantc::testing
