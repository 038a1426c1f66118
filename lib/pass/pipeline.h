// Textual pipelines: a flat, comma-separated list of passes with options in parentheses and
// list values in brackets:  fp8-to-bf16,rotate(seed=0),quantize(type=Q4_K_M),shard(n=8)
// Printing a parsed pipeline gives its canonical form (every option, declaration order), which
// is what outputs record in their metadata.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/pass/pass.h"

namespace quantc {

// Option values a caller supplies for passes the text names (the CLI's --type and --calib for
// gptq): applied to each pass of that name before the text's own options, which win.
using PassOptionDefaults = std::map<std::string, std::vector<std::pair<std::string, std::string>>, std::less<>>;

absl::StatusOr<std::vector<std::unique_ptr<Pass>>> ParsePipeline(std::string_view text,
                                                                  std::span<const PassInfo> registry,
                                                                  const PassOptionDefaults& defaults = {});

}  // namespace quantc
