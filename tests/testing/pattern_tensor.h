// A test tensor with deterministic bytes, shared by the writer tests.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lib/ir/model.h"

namespace quantc::testing {

// A tensor whose bytes are a pattern seeded by its name.
inline TensorEntry MakeTensor(std::string name, DType dtype, Shape shape) {
  TensorInfo info{dtype, std::move(shape)};
  std::vector<uint8_t> bytes(info.byte_size());
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 31 + name.size() * 7 + name[0]);
  return TensorEntry{.name = std::move(name),
                     .info = std::move(info),
                     .source = std::make_shared<OwnedTensorSource>(std::move(bytes)),
                     .origin = "test"};
}

}  // namespace quantc::testing
