// A deliberately separate, minimal GGUF parser and builder for tests: they let a test check what quantc
// wrote, and hand quantc's reader bytes, without trusting formats/gguf. Written from the layout in
// /work/shared/specs/gguf-llamacpp.md §1 only; no validation beyond what parsing needs (it throws
// std::runtime_error on a short file, which fails the test).
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace quantc::testing {

struct RawGgufKv {
  std::string key;
  uint32_t type = 0;       // value type; 9 (array) for arrays
  uint32_t elem_type = 0;  // for arrays: the element type; for scalars == type
  uint64_t count = 1;
  std::vector<std::string> strings;  // string elements
  std::vector<int64_t> ints;         // integer and bool elements, widened (u64 bit pattern kept)
  std::vector<double> floats;        // f32/f64 elements
};

struct RawGgufTensor {
  std::string name;
  std::vector<int64_t> ne;  // ggml order, as stored
  uint32_t type = 0;
  uint64_t offset = 0;      // relative to the data section
};

struct RawGguf {
  uint32_t version = 0;
  std::vector<RawGgufKv> kvs;
  std::vector<RawGgufTensor> tensors;
  uint64_t infos_end = 0;    // file offset just after the last tensor info
  uint64_t alignment = 32;
  uint64_t data_offset = 0;  // infos_end rounded up to the alignment
  std::string file;          // every byte of the file

  const RawGgufKv* Find(const std::string& key) const {
    for (const RawGgufKv& kv : kvs) {
      if (kv.key == key) return &kv;
    }
    return nullptr;
  }
  // `n` bytes of a tensor's data.
  std::string Data(const RawGgufTensor& t, uint64_t n) const { return file.substr(data_offset + t.offset, n); }
};

class RawGgufCursor {
 public:
  explicit RawGgufCursor(const std::string& bytes) : b_(bytes) {}
  template <typename T>
  T Get() {
    if (pos_ + sizeof(T) > b_.size()) throw std::runtime_error("raw gguf: short file");
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string Str() {
    uint64_t n = Get<uint64_t>();
    if (n > b_.size() - pos_) throw std::runtime_error("raw gguf: short string");
    std::string s = b_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  uint64_t pos() const { return pos_; }

 private:
  const std::string& b_;
  uint64_t pos_ = 0;
};

inline void ReadRawGgufElement(RawGgufCursor& c, uint32_t type, RawGgufKv& kv) {
  switch (type) {
    case 0: kv.ints.push_back(c.Get<uint8_t>()); break;
    case 1: kv.ints.push_back(c.Get<int8_t>()); break;
    case 2: kv.ints.push_back(c.Get<uint16_t>()); break;
    case 3: kv.ints.push_back(c.Get<int16_t>()); break;
    case 4: kv.ints.push_back(c.Get<uint32_t>()); break;
    case 5: kv.ints.push_back(c.Get<int32_t>()); break;
    case 6: kv.floats.push_back(c.Get<float>()); break;
    case 7: kv.ints.push_back(c.Get<uint8_t>()); break;
    case 8: kv.strings.push_back(c.Str()); break;
    case 10: kv.ints.push_back(static_cast<int64_t>(c.Get<uint64_t>())); break;
    case 11: kv.ints.push_back(c.Get<int64_t>()); break;
    case 12: kv.floats.push_back(c.Get<double>()); break;
    default: throw std::runtime_error("raw gguf: bad value type " + std::to_string(type));
  }
}

inline RawGguf ParseRawGguf(std::string bytes) {
  RawGguf g;
  g.file = std::move(bytes);
  RawGgufCursor c(g.file);
  if (g.file.compare(0, 4, "GGUF") != 0) throw std::runtime_error("raw gguf: bad magic");
  c.Get<uint32_t>();
  g.version = c.Get<uint32_t>();
  const uint64_t n_tensors = c.Get<uint64_t>();
  const uint64_t n_kv = c.Get<uint64_t>();
  for (uint64_t i = 0; i < n_kv; ++i) {
    RawGgufKv kv;
    kv.key = c.Str();
    kv.type = kv.elem_type = c.Get<uint32_t>();
    if (kv.type == 9) {
      kv.elem_type = c.Get<uint32_t>();
      kv.count = c.Get<uint64_t>();
    }
    for (uint64_t j = 0; j < kv.count; ++j) ReadRawGgufElement(c, kv.elem_type, kv);
    if (kv.key == "general.alignment") g.alignment = static_cast<uint64_t>(kv.ints.at(0));
    g.kvs.push_back(std::move(kv));
  }
  for (uint64_t i = 0; i < n_tensors; ++i) {
    RawGgufTensor t;
    t.name = c.Str();
    const uint32_t n_dims = c.Get<uint32_t>();
    for (uint32_t j = 0; j < n_dims; ++j) t.ne.push_back(c.Get<int64_t>());
    t.type = c.Get<uint32_t>();
    t.offset = c.Get<uint64_t>();
    g.tensors.push_back(std::move(t));
  }
  g.infos_end = c.pos();
  g.data_offset = (g.infos_end + g.alignment - 1) / g.alignment * g.alignment;
  return g;
}

inline std::string ReadFileBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline RawGguf ReadRawGguf(const std::filesystem::path& path) { return ParseRawGguf(ReadFileBytes(path)); }

// Little-endian encoders for building GGUF bytes by hand.
template <typename T>
std::string RawLe(T v) {
  std::string s(sizeof(T), '\0');
  std::memcpy(s.data(), &v, sizeof(T));
  return s;
}
inline std::string RawStr(const std::string& s) { return RawLe<uint64_t>(s.size()) + s; }
// One KV record: key, type, payload (payload already encoded).
inline std::string RawKv(const std::string& key, uint32_t type, const std::string& payload) {
  return RawStr(key) + RawLe<uint32_t>(type) + payload;
}
inline std::string RawKvU32(const std::string& key, uint32_t v) { return RawKv(key, 4, RawLe<uint32_t>(v)); }
inline std::string RawKvString(const std::string& key, const std::string& v) { return RawKv(key, 8, RawStr(v)); }
inline std::string RawKvStringArray(const std::string& key, const std::vector<std::string>& v) {
  std::string payload = RawLe<uint32_t>(8) + RawLe<uint64_t>(v.size());
  for (const std::string& s : v) payload += RawStr(s);
  return RawKv(key, 9, payload);
}
inline std::string RawTensorInfo(const std::string& name, const std::vector<int64_t>& ne, uint32_t type,
                                 uint64_t offset) {
  std::string s = RawStr(name) + RawLe<uint32_t>(static_cast<uint32_t>(ne.size()));
  for (int64_t d : ne) s += RawLe<int64_t>(d);
  return s + RawLe<uint32_t>(type) + RawLe<uint64_t>(offset);
}

}  // namespace quantc::testing
