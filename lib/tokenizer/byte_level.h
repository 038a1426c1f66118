// GPT-2's reversible map between bytes and printable characters (openai/gpt-2 src/encoder.py,
// bytes_to_unicode; Hugging Face tokenizers pre_tokenizers/byte_level.rs): the printable bytes
// '!'..'~', 0xA1..0xAC and 0xAE..0xFF stand for themselves, and the other 68 bytes, in order, for
// U+0100..U+0143. Byte-level BPE vocabularies are written in these characters.
#pragma once

#include <string>
#include <string_view>

namespace quantc::tokenizer {

// Appends the byte-level spelling of `bytes` (one character, 1 or 2 UTF-8 bytes, per input byte).
void AppendByteLevel(std::string_view bytes, std::string& out);

// Appends the bytes that the byte-level characters of `token` stand for. A token with any other
// character is appended as it is (Hugging Face's ByteLevel decoder does the same).
void AppendFromByteLevel(std::string_view token, std::string& out);

// `bytes` as valid UTF-8: each maximal invalid subsequence becomes U+FFFD, as in Rust's
// String::from_utf8_lossy, Python's errors="replace" and the WHATWG decoder.
std::string Utf8Lossy(std::string_view bytes);

}  // namespace quantc::tokenizer
