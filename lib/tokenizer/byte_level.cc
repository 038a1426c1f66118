#include "lib/tokenizer/byte_level.h"

#include <array>
#include <cstdint>

namespace quantc::tokenizer {
namespace {

constexpr bool StandsForItself(int b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

// Byte -> code point of its byte-level character.
constexpr std::array<uint16_t, 256> kByteToChar = [] {
  std::array<uint16_t, 256> table{};
  int next = 256;
  for (int b = 0; b < 256; ++b) table[b] = StandsForItself(b) ? b : next++;
  return table;
}();
constexpr int kMaxChar = 256 + 68;  // one past the largest code point in the table
static_assert(kByteToChar[0] == 256 && kByteToChar[0xAD] == kMaxChar - 1);

// Code point -> byte, or -1 for characters outside the table.
constexpr std::array<int16_t, kMaxChar> kCharToByte = [] {
  std::array<int16_t, kMaxChar> table{};
  for (auto& v : table) v = -1;
  for (int b = 0; b < 256; ++b) table[kByteToChar[b]] = static_cast<int16_t>(b);
  return table;
}();

// Decodes one code point below U+0800 (the table's range) at `s[i]`; -1 for anything else.
int DecodeSmall(std::string_view s, size_t i, size_t& length) {
  auto c0 = static_cast<unsigned char>(s[i]);
  if (c0 < 0x80) {
    length = 1;
    return c0;
  }
  if ((c0 & 0xE0) == 0xC0 && i + 1 < s.size()) {
    auto c1 = static_cast<unsigned char>(s[i + 1]);
    length = 2;
    if ((c1 & 0xC0) == 0x80) return ((c0 & 0x1F) << 6) | (c1 & 0x3F);
  }
  return -1;
}

}  // namespace

void AppendByteLevel(std::string_view bytes, std::string& out) {
  for (unsigned char b : bytes) {
    uint16_t c = kByteToChar[b];
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
}

void AppendFromByteLevel(std::string_view token, std::string& out) {
  size_t mark = out.size();
  for (size_t i = 0; i < token.size();) {
    size_t length = 0;
    int c = DecodeSmall(token, i, length);
    if (c < 0 || c >= kMaxChar || kCharToByte[c] < 0) {
      out.resize(mark);
      out.append(token);
      return;
    }
    out.push_back(static_cast<char>(kCharToByte[c]));
    i += length;
  }
}

std::string Utf8Lossy(std::string_view bytes) {
  constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    auto b = static_cast<unsigned char>(bytes[i]);
    if (b < 0x80) {
      out.push_back(static_cast<char>(b));
      ++i;
      continue;
    }
    // Expected length and the allowed range of the second byte (Unicode Table 3-7).
    size_t need = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) need = 2;
    else if (b == 0xE0) need = 3, lo = 0xA0;
    else if (b >= 0xE1 && b <= 0xEC) need = 3;
    else if (b == 0xED) need = 3, hi = 0x9F;
    else if (b >= 0xEE && b <= 0xEF) need = 3;
    else if (b == 0xF0) need = 4, lo = 0x90;
    else if (b >= 0xF1 && b <= 0xF3) need = 4;
    else if (b == 0xF4) need = 4, hi = 0x8F;
    // Consume the longest prefix of a well-formed sequence; replace it if it is incomplete.
    size_t n = 1;
    while (need != 0 && n < need && i + n < bytes.size()) {
      auto c = static_cast<unsigned char>(bytes[i + n]);
      bool ok = n == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
      if (!ok) break;
      ++n;
    }
    if (need != 0 && n == need) out.append(bytes.substr(i, n));
    else out.append(kReplacement);
    i += n;
  }
  return out;
}

}  // namespace quantc::tokenizer
