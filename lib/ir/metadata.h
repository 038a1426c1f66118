// Typed key/value metadata carried by a model: GGUF's KV section (general.*, <arch>.*, tokenizer.*),
// set by the passes that know what the keys mean and serialized unchanged by writers. The types are
// GGUF's value types (gguf_type, same ids); a value is a scalar or a one-level array of one type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace quantc {

// GGUF value type ids (gguf.h gguf_type); kArray is only a marker on the wire.
enum class MetaType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7, kString = 8,
  kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
std::string_view MetaTypeName(MetaType t);  // "u32", "string", ...

// One value: `type` is the element type; scalars hold exactly one element and is_array == false.
struct MetaValue {
  using Elements = std::variant<std::vector<uint8_t>, std::vector<int8_t>, std::vector<uint16_t>,
                                std::vector<int16_t>, std::vector<uint32_t>, std::vector<int32_t>,
                                std::vector<float>, std::vector<bool>, std::vector<std::string>,
                                std::vector<uint64_t>, std::vector<int64_t>, std::vector<double>>;
  MetaType type = MetaType::kU32;
  bool is_array = false;
  Elements elements;

  static MetaValue U8(uint8_t v) { return Scalar(MetaType::kU8, std::vector<uint8_t>{v}); }
  static MetaValue U16(uint16_t v) { return Scalar(MetaType::kU16, std::vector<uint16_t>{v}); }
  static MetaValue U32(uint32_t v) { return Scalar(MetaType::kU32, std::vector<uint32_t>{v}); }
  static MetaValue I32(int32_t v) { return Scalar(MetaType::kI32, std::vector<int32_t>{v}); }
  static MetaValue U64(uint64_t v) { return Scalar(MetaType::kU64, std::vector<uint64_t>{v}); }
  static MetaValue F32(float v) { return Scalar(MetaType::kF32, std::vector<float>{v}); }
  static MetaValue Bool(bool v) { return Scalar(MetaType::kBool, std::vector<bool>{v}); }
  static MetaValue String(std::string v) { return Scalar(MetaType::kString, std::vector<std::string>{std::move(v)}); }
  static MetaValue StringArray(std::vector<std::string> v) { return Array(MetaType::kString, std::move(v)); }
  static MetaValue I32Array(std::vector<int32_t> v) { return Array(MetaType::kI32, std::move(v)); }
  static MetaValue F32Array(std::vector<float> v) { return Array(MetaType::kF32, std::move(v)); }
  static MetaValue U32Array(std::vector<uint32_t> v) { return Array(MetaType::kU32, std::move(v)); }

  size_t size() const;  // number of elements (1 for a scalar)
  // The scalar or the first element, when the value has this type; nullopt otherwise.
  template <typename T>
  std::optional<T> Get() const {
    const auto* v = std::get_if<std::vector<T>>(&elements);
    if (v == nullptr || v->empty()) return std::nullopt;
    return (*v)[0];
  }
  template <typename T>
  const std::vector<T>* GetArray() const { return std::get_if<std::vector<T>>(&elements); }
  std::string DebugString(size_t max_elements = 8) const;  // "u32 28", "string[151643] [...]"

  template <typename V>
  static MetaValue Scalar(MetaType t, V v) { return MetaValue{t, false, std::move(v)}; }
  template <typename V>
  static MetaValue Array(MetaType t, V v) { return MetaValue{t, true, std::move(v)}; }
};

// Keys in insertion order (the order writers emit), unique. Set replaces a value in place.
class Metadata {
 public:
  void Set(std::string key, MetaValue value);
  const MetaValue* Find(std::string_view key) const;
  bool Erase(std::string_view key);
  const std::vector<std::pair<std::string, MetaValue>>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }

 private:
  std::vector<std::pair<std::string, MetaValue>> entries_;
};

}  // namespace quantc
