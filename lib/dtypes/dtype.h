// Every element type quantc reads or writes, described in one table of traits (ggml's type_traits).
// Plain dtypes are those of the safetensors format (names spelled as safetensors spells them);
// block-quantized types (Q4_K, MXFP4, ...) are appended here by later issues with their block size.
// Tests loop over the whole table, so a new dtype is tested without extra work.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"

namespace quantc {

enum class DType : uint8_t {
  kBool,
  kF4,        // E2M1 (OCP MX), two per byte, element 2j in the low nibble
  kF6E2M3,    // OCP MX FP6, four per three bytes
  kF6E3M2,
  kU8,
  kI8,
  kF8E5M2,    // IEEE-like: Inf and NaN
  kF8E4M3,    // "fn": no Inf, max 448, NaN 0x7F/0xFF
  kF8E8M0,    // unsigned power of two 2^(b-127), 0xFF NaN (MX scales)
  kF8E4M3FNUZ,  // bias 8, NaN 0x80 only, no -0
  kF8E5M2FNUZ,  // bias 16, NaN 0x80 only, no -0
  kI16,
  kU16,
  kF16,
  kBF16,
  kI32,
  kU32,
  kF32,
  kC64,       // complex64: two F32
  kF64,
  kI64,
  kU64,
  // ggml block-quantized types (GGUF): a block of `block_elems` weights with its own scales, laid
  // out byte-for-byte as ggml's block structs (lib/kernels/ggml_quants/blocks.h).
  kQ4_0,
  kQ4_1,
  kQ5_0,
  kQ5_1,
  kQ8_0,
  kQ2_K,
  kQ3_K,
  kQ4_K,
  kQ5_K,
  kQ6_K,
  kIQ4_NL,
  kIQ4_XS,
  kMXFP4,
  // Sub-byte integers (ONNX INT4 / UINT4: QDQ weights): two per byte, element 2j in the low nibble,
  // signed two's complement for kI4. Neither safetensors nor ggml spells them.
  kI4,
  kU4,
  kCount,
};
// The plain enumerators (kBool .. kU64) are in safetensors' Dtype enum order (increasing
// alignment); its writer sorts tensors by this order, descending, which our writer reproduces for
// byte-identical output. Block-quantized types follow; safetensors has no spelling for them.

struct DTypeTraits {
  std::string_view name;   // safetensors spelling: "F8_E4M3", "BF16", ...
  int block_elems;         // elements per storage block (1 for byte-or-larger types, 2 for F4, 4 for F6)
  int block_bytes;         // bytes per storage block
  bool is_float;           // a real-valued floating/microscaling format (convertible to/from F32)
  bool is_integer;         // I*/U*/BOOL
  bool is_block_quant;     // a ggml block type (name in ggml's spelling: "q4_K", "iq4_xs", "mxfp4")
};

const DTypeTraits& Traits(DType t);
// The dense float storage types passes compute from and write back (F32, F16, BF16).
inline bool IsDenseFloat(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }
inline std::string_view Name(DType t) { return Traits(t).name; }
std::span<const DType> AllDTypes();         // kBool .. kU64, every plain (safetensors) dtype
std::span<const DType> BlockQuantDTypes();  // kQ4_0 .. kMXFP4 (kI4 and kU4 follow: in neither list)
// Safetensors spelling -> dtype: "BF16" -> kBF16. Block types and unknown names return nullopt
// (readers turn that into UNIMPLEMENTED).
std::optional<DType> DTypeFromName(std::string_view name);
// A type as users and llama.cpp name it, case-insensitive: "Q4_K", "q8_0", "F16", "bf16", "IQ4_XS",
// "MXFP4". Only F32, F16, BF16 and the block types: what a GGUF tensor can hold.
std::optional<DType> GgufTensorTypeFromName(std::string_view name);

// Bytes needed for `num_elements` elements; error if the count does not fill whole storage blocks
// (e.g. an odd F4 count) or the product overflows.
absl::StatusOr<uint64_t> ByteSize(DType t, uint64_t num_elements);

}  // namespace quantc
