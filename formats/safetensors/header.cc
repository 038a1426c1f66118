#include "formats/safetensors/header.h"

#include <algorithm>
#include <optional>
#include <tuple>
#include <utility>

#include "lib/support/file_util.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::formats::safetensors {
namespace {

using Json = nlohmann::json;

// SAX handler that builds the DOM like nlohmann's own parser but stops at a repeated key in any
// object (nlohmann's DOM parser keeps the last value; serde rejects duplicates, and so do we).
// It also records nlohmann's parse error text instead of throwing.
class NoDuplicateKeysBuilder {
 public:
  explicit NoDuplicateKeysBuilder(Json& root) : root_(root) {}

  bool null() { return Place(nullptr) != nullptr; }
  bool boolean(bool v) { return Place(v) != nullptr; }
  bool number_integer(Json::number_integer_t v) { return Place(v) != nullptr; }
  bool number_unsigned(Json::number_unsigned_t v) { return Place(v) != nullptr; }
  bool number_float(Json::number_float_t v, const Json::string_t&) { return Place(v) != nullptr; }
  bool string(Json::string_t& v) { return Place(std::move(v)) != nullptr; }
  bool binary(Json::binary_t& v) { return Place(Json::binary(std::move(v))) != nullptr; }
  bool start_object(std::size_t) { return Open(Json::object()); }
  bool start_array(std::size_t) { return Open(Json::array()); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }
  bool key(Json::string_t& k) {
    if (open_.back()->contains(k)) {
      duplicate_key_ = k;
      duplicate_depth_ = open_.size();
      return false;
    }
    key_ = std::move(k);
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const Json::exception& e) {
    error_ = e.what();
    return false;
  }

  const std::string& error() const { return error_; }
  const std::optional<std::string>& duplicate_key() const { return duplicate_key_; }
  size_t duplicate_depth() const { return duplicate_depth_; }
  const std::string& top_level_key() const { return top_level_key_; }

 private:
  // Puts `v` where the parser is (root, next array element or the pending key); returns it.
  Json* Place(Json v) {
    if (open_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    Json& parent = *open_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      return &parent.back();
    }
    if (open_.size() == 1) top_level_key_ = key_;
    Json& slot = parent[key_];
    slot = std::move(v);
    return &slot;
  }
  // Containers on the stack are never modified except by appending children, so pointers stay valid.
  bool Open(Json v) {
    open_.push_back(Place(std::move(v)));
    return true;
  }
  bool Close() {
    open_.pop_back();
    return true;
  }

  Json& root_;
  std::vector<Json*> open_;
  std::string key_;
  std::string top_level_key_;
  std::string error_;
  std::optional<std::string> duplicate_key_;
  size_t duplicate_depth_ = 0;
};

absl::Status DataLoss(std::string_view where, std::string_view what) {
  return absl::DataLossError(StrCat(where, ": ", what));
}
absl::Status TensorDataLoss(std::string_view where, std::string_view tensor, std::string_view what) {
  return absl::DataLossError(StrCat(where, ": tensor ", QuoteName(tensor), ": ", what));
}

// Bytes outside printable ASCII as \xNN (for raw file bytes that may not be text).
std::string HexEscapeAll(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F && c != '\\' && c != '"') {
      out += c;
    } else {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    }
  }
  return out;
}

// A JSON value for a message: compact and cut short.
std::string Snippet(const Json& v) {
  std::string s = v.dump(-1, ' ', /*ensure_ascii=*/true, Json::error_handler_t::replace);
  if (s.size() > 80) s = StrCat(s.substr(0, 77), "...");
  return s;
}

absl::StatusOr<HeaderTensor> ParseTensor(const std::string& name, const Json& value, std::string_view where) {
  if (name.empty()) return DataLoss(where, "header has a tensor with an empty name");
  if (!value.is_object()) return TensorDataLoss(where, name, StrCat("entry is not an object: ", Snippet(value)));
  HeaderTensor t;
  t.name = name;

  auto dtype_it = value.find("dtype");
  if (dtype_it == value.end() || !dtype_it->is_string()) {
    return TensorDataLoss(where, name, "missing or non-string \"dtype\"");
  }
  const std::string& dtype_name = dtype_it->get_ref<const std::string&>();
  std::optional<DType> dtype = DTypeFromName(dtype_name);
  if (!dtype.has_value()) {
    return absl::UnimplementedError(
        StrCat(where, ": tensor ", QuoteName(name), ": unknown dtype ", QuoteName(dtype_name)));
  }
  t.info.dtype = *dtype;

  auto shape_it = value.find("shape");
  if (shape_it == value.end() || !shape_it->is_array()) {
    return TensorDataLoss(where, name, "missing \"shape\" or it is not a list");
  }
  for (const Json& d : *shape_it) {
    if (!d.is_number_unsigned() || d.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      return TensorDataLoss(where, name,
                            StrCat("shape ", Snippet(*shape_it), " is not a list of non-negative integers"));
    }
    t.info.shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
  }

  auto offsets_it = value.find("data_offsets");
  if (offsets_it == value.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
      !(*offsets_it)[0].is_number_unsigned() || !(*offsets_it)[1].is_number_unsigned()) {
    return TensorDataLoss(where, name, "\"data_offsets\" is not a pair [begin, end] of non-negative integers");
  }
  t.begin = (*offsets_it)[0].get<uint64_t>();
  t.end = (*offsets_it)[1].get<uint64_t>();
  if (t.begin > t.end) {
    return TensorDataLoss(where, name, StrCat("data_offsets [", t.begin, ", ", t.end, "] end before they begin"));
  }

  absl::StatusOr<uint64_t> bytes = CheckedByteSize(t.info);
  if (!bytes.ok()) {
    return TensorDataLoss(where, name, StrCat(dtype_name, " ", ShapeToString(t.info.shape), ": ",
                                                    bytes.status().message()));
  }
  if (*bytes != t.end - t.begin) {
    return TensorDataLoss(where, name,
                          StrCat(dtype_name, " ", ShapeToString(t.info.shape), " needs ", *bytes,
                                       " bytes but data_offsets [", t.begin, ", ", t.end, "] span ",
                                       t.end - t.begin));
  }
  return t;
}

absl::Status ParseMetadata(const Json& value, std::string_view where, std::map<std::string, std::string>& out) {
  if (value.is_null()) return absl::OkStatus();  // serde reads null as None
  if (!value.is_object()) return DataLoss(where, StrCat("__metadata__ is not an object: ", Snippet(value)));
  for (const auto& [k, v] : value.items()) {
    if (!v.is_string()) {
      return DataLoss(where,
                      StrCat("__metadata__ value for key ", QuoteName(k), " is not a string: ", Snippet(v)));
    }
    out.emplace(k, v.get<std::string>());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Json> ParseJsonNoDuplicateKeys(std::string_view text, std::string_view where) {
  QC_RETURN_IF_ERROR(CheckJsonNesting(text, where));
  Json root;
  NoDuplicateKeysBuilder builder(root);
  bool ok = false;
  try {
    ok = Json::sax_parse(text.begin(), text.end(), &builder);
  } catch (const std::exception& e) {  // nlohmann reports through parse_error; this is a backstop
    return DataLoss(where, StrCat("not valid JSON: ", e.what()));
  }
  if (builder.duplicate_key().has_value()) {
    if (builder.duplicate_depth() == 1) {
      return DataLoss(where, StrCat("duplicate key ", QuoteName(*builder.duplicate_key())));
    }
    return DataLoss(where, StrCat("duplicate key ", QuoteName(*builder.duplicate_key()), " inside ",
                                        QuoteName(builder.top_level_key())));
  }
  if (!ok) return DataLoss(where, StrCat("not valid JSON: ", builder.error()));
  return root;
}

absl::StatusOr<Header> ParseHeader(std::string_view text, uint64_t data_size, std::string_view where) {
  if (text.empty() || text.front() != '{') {
    return DataLoss(where, StrCat("header does not start with '{' (starts with \"",
                                        HexEscapeAll(text.substr(0, std::min<size_t>(text.size(), 16))),
                                        "\")"));
  }
  std::string header_where = StrCat(where, ": header");
  QC_ASSIGN_OR_RETURN(Json json, ParseJsonNoDuplicateKeys(text, header_where));
  if (!json.is_object()) return DataLoss(where, "header is not a JSON object");

  Header header;
  for (const auto& [key, value] : json.items()) {
    if (key == kMetadataKey) {
      QC_RETURN_IF_ERROR(ParseMetadata(value, where, header.metadata));
      continue;
    }
    QC_ASSIGN_OR_RETURN(HeaderTensor t, ParseTensor(key, value, where));
    header.tensors.push_back(std::move(t));
  }

  // Sorted by offset, the spans must tile [0, data_size) exactly: no gap, no overlap, nothing past the end.
  std::sort(header.tensors.begin(), header.tensors.end(), [](const HeaderTensor& a, const HeaderTensor& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  uint64_t pos = 0;
  const HeaderTensor* previous = nullptr;
  for (const HeaderTensor& t : header.tensors) {
    if (t.begin < pos) {
      return TensorDataLoss(where, t.name,
                            StrCat("data_offsets [", t.begin, ", ", t.end, "] overlap tensor ",
                                         QuoteName(previous->name), " which ends at ", pos));
    }
    if (t.begin > pos) {
      return TensorDataLoss(
          where, t.name,
          StrCat("data_offsets [", t.begin, ", ", t.end, "] leave a gap: bytes [", pos, ", ", t.begin,
                       ") of the data belong to no tensor"));
    }
    if (t.end > data_size) {
      return TensorDataLoss(where, t.name,
                            StrCat("data_offsets [", t.begin, ", ", t.end, "] run past the end of the ",
                                         data_size, "-byte data buffer"));
    }
    pos = t.end;
    previous = &t;
  }
  if (pos != data_size) {
    return DataLoss(where, StrCat("tensors cover ", pos, " bytes but the data buffer has ", data_size,
                                        " (trailing bytes belong to no tensor)"));
  }
  return header;
}

std::string JsonQuote(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (u < 0x20) {
          out += "\\u00";
          out += kHex[u >> 4];
          out += kHex[u & 0xF];
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string SerializeHeader(const std::map<std::string, std::string>& metadata,
                            std::span<const HeaderTensor> tensors) {
  // serde_json compact output of the Rust `Metadata` struct: "__metadata__" first when present, then
  // each tensor's {"dtype","shape","data_offsets"} in the order given.
  std::string out = "{";
  bool first = true;
  if (!metadata.empty()) {
    out += JsonQuote(kMetadataKey);
    out += ":{";
    bool first_entry = true;
    for (const auto& [k, v] : metadata) {
      if (!first_entry) out += ',';
      first_entry = false;
      out += StrCat(JsonQuote(k), ":", JsonQuote(v));
    }
    out += '}';
    first = false;
  }
  for (const HeaderTensor& t : tensors) {
    if (!first) out += ',';
    first = false;
    out += StrCat(JsonQuote(t.name), ":{\"dtype\":", JsonQuote(Name(t.info.dtype)), ",\"shape\":[");
    for (size_t i = 0; i < t.info.shape.size(); ++i) {
      if (i > 0) out += ',';
      out += StrCat(t.info.shape[i]);
    }
    out += StrCat("],\"data_offsets\":[", t.begin, ",", t.end, "]}");
  }
  out += '}';
  // The Rust writer pads with spaces so that the data buffer starts 8-byte aligned.
  out.append((8 - out.size() % 8) % 8, ' ');
  return out;
}

bool IsValidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    int extra;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= text.size()) return false;
    for (int k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

std::string QuoteName(std::string_view name) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    } else {
      out += c;
    }
  }
  out += "'";
  return out;
}

}  // namespace quantc::formats::safetensors
