// Textual pipelines: a flat, comma-separated list of passes with options in parentheses and
// list values in brackets:  fp8-to-bf16,rotate(seed=0),quantize(type=Q4_K_M),shard(n=8)
// Printing a parsed pipeline gives its canonical form (every option, declaration order), which
// is what outputs record in their metadata.
#pragma once

#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/pass/pass.h"

namespace quantc {

absl::StatusOr<std::vector<std::unique_ptr<Pass>>> ParsePipeline(std::string_view text,
                                                                  std::span<const PassInfo> registry);

}  // namespace quantc
