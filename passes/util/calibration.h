// The calibration windows of passes that run the model on --calib text (gptq, allocate).
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "lib/pass/pass.h"

namespace quantc::passes {

// How many windows of `ctx` consecutive tokens, at most `samples`, the calibration tokens in
// `context` hold. FAILED_PRECONDITION without calibration tokens; INVALID_ARGUMENT for ctx < 2,
// samples < 1 or a text shorter than one window. Messages start with `pass`.
absl::StatusOr<int64_t> CalibrationWindows(const PassContext& context, std::string_view pass, int64_t samples, int64_t ctx);

}  // namespace quantc::passes
