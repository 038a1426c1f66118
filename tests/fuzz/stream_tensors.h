// Streams every byte of each tensor a reader accepted: a range the reader validated wrongly then
// reads outside its file (a SEGV past the mapping, or an ASan report for in-memory sources).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "lib/ir/model.h"

namespace quantc::fuzz {

inline void StreamTensors(const std::vector<TensorEntry>& tensors) {
  volatile uint8_t sink = 0;  // keeps the reads from being optimized away
  for (const TensorEntry& t : tensors) {
    (void)t.source->Stream([&](std::span<const uint8_t> bytes) {
      for (uint8_t b : bytes) sink = sink ^ b;
      return absl::OkStatus();
    });
  }
}

}  // namespace quantc::fuzz
