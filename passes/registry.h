// The one list of every pass quantc has (LLVM's PassRegistry.def, as code): name, summary and
// factory. No static-initialiser registration; tests check every passes/*.cc is listed.
#pragma once

#include <span>

#include "lib/pass/pass.h"

namespace quantc::passes {

std::span<const PassInfo> Registry();

}  // namespace quantc::passes
