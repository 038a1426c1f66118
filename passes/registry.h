// The one list of every pass quantc has (LLVM's PassRegistry.def, as code): name, summary and
// factory. No static-initialiser registration; tests check every passes/*.cc is listed.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "lib/ir/model.h"
#include "lib/pass/pass.h"

namespace quantc::passes {

std::span<const PassInfo> Registry();

// What turns the checkpoint's low-precision float weights into BF16, the start of every output
// that does not keep them: fp8-to-bf16 when it holds block FP8, fp4-to-bf16 when it holds FP4
// (both for DeepSeek-V4), nothing for a BF16 checkpoint.
std::vector<std::unique_ptr<Pass>> DequantPassesFor(const Model& model);

}  // namespace quantc::passes
