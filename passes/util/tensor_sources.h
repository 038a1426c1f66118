// Lazy tensor transforms shared by the layout passes: each wraps the source of one (or several)
// input tensors and produces the transformed bytes when a writer streams them. Reordering
// transforms need random access to their input, so they read one whole tensor at a time (a few
// hundred MB for the largest matrices of a 671B model), never the checkpoint.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lib/tensor/tensor.h"

namespace quantc::passes {

// Element-wise conversion between float dtypes (F32 / F16 / BF16 / F8 ... -> F32 / F16 / BF16),
// round-to-nearest-even. Streams chunk by chunk.
std::shared_ptr<const TensorSource> MakeCastSource(std::shared_ptr<const TensorSource> input, TensorInfo input_info,
                                                   DType to);
// The same with every row multiplied element-wise by `column_scale` (cols() entries) in FP32
// before rounding: a matrix [out, in] times diag(column_scale) (a norm folded into a linear).
std::shared_ptr<const TensorSource> MakeColumnScaleSource(std::shared_ptr<const TensorSource> input,
                                                          TensorInfo input_info, DType to,
                                                          std::vector<float> column_scale);
// A 2-D [rows, cols] tensor with every row (or, with `columns`, every column) replaced by
// transform(vector) computed in FP32, stored as `to` (F32 / F16 / BF16). `transform` works in
// place on `count` contiguous vectors of `length` floats. Rows stream in batches; columns need
// the whole tensor in FP32 at once.
using VectorTransform = std::function<void(float* vectors, int64_t count, int64_t length)>;
std::shared_ptr<const TensorSource> MakeVectorTransformSource(std::shared_ptr<const TensorSource> input,
                                                              TensorInfo input_info, DType to,
                                                              VectorTransform transform, bool columns,
                                                              std::string description);
// `info.num_elements()` copies of `value` in `info.dtype` (F32 / F16 / BF16).
std::shared_ptr<const TensorSource> MakeFillSource(TensorInfo info, float value);

// The rows of a row-major tensor in a new order: output row r is input row order[r]. Any dtype
// whose rows are whole storage blocks.
std::shared_ptr<const TensorSource> MakeRowPermutationSource(std::shared_ptr<const TensorSource> input,
                                                             TensorInfo input_info, std::vector<int64_t> order);

// Per-head blocks of a [heads * (a + b), cols] matrix: part 0 is each head's first `a` rows, part 1
// its last `b` rows; `transpose` writes each head's block transposed ([cols, rows]). Dense dtypes
// of 1-4 bytes per element.
std::shared_ptr<const TensorSource> MakeHeadSplitSource(std::shared_ptr<const TensorSource> input,
                                                        TensorInfo input_info, int64_t heads, int64_t a, int64_t b,
                                                        int part, bool transpose);

// compressed-tensors int4 codes of an [n, k] weight (I32 words, each row packed low nibble first,
// unsigned = signed + 8) as ONNX INT4 [k, n]: transposed, signed, packed low nibble first over the
// flattened [k, n] (DequantizeLinear's weight for MatMul). Reads the whole tensor (n·k/2 bytes).
std::shared_ptr<const TensorSource> MakeInt4TransposeSource(std::shared_ptr<const TensorSource> packed, int64_t n, int64_t k);

// The inputs one after another (stacking equally shaped tensors along a new leading dim).
std::shared_ptr<const TensorSource> MakeConcatSource(std::vector<std::shared_ptr<const TensorSource>> inputs,
                                                     std::string description);

}  // namespace quantc::passes
