#include "passes/util/calibration.h"

#include <algorithm>

#include "lib/support/strings.h"

namespace quantc::passes {

absl::StatusOr<int64_t> CalibrationWindows(const PassContext& context, std::string_view pass, int64_t samples, int64_t ctx) {
  if (context.calibration == nullptr || context.calibration->empty()) {
    return absl::FailedPreconditionError(StrCat(pass, " needs calibration text (--calib FILE)"));
  }
  if (ctx < 2 || samples < 1) return absl::InvalidArgumentError(StrCat(pass, ": ctx must be >= 2 and samples >= 1"));
  const int64_t tokens = static_cast<int64_t>(context.calibration->size());
  const int64_t windows = std::min<int64_t>(samples, tokens / ctx);
  if (windows < 1) {
    return absl::InvalidArgumentError(StrCat(pass, ": the calibration text has ", tokens, " tokens, fewer than one window of ctx=", ctx));
  }
  return windows;
}

}  // namespace quantc::passes
