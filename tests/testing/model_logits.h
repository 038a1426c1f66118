// What the differential pass tests share (ORT's TransformerTester): the runner's logits on an
// in-memory Model, a fixture's golden prompt, and the distance between two logit vectors.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "lib/ir/model.h"
#include "lib/runner/runner.h"
#include "tests/testing/raw_safetensors.h"

namespace quantc::testing {

// Logits [ids.size(), vocab] from one Forward of the reference runner over `ids`; empty (and a
// test failure) if the model does not load or run.
inline std::vector<float> ModelLogits(const Model& model, const std::vector<int32_t>& ids) {
  auto r = runner::Runner::Create(model);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return {};
  std::vector<float> logits(ids.size() * (*r)->spec().vocab_size);
  auto cache = (*r)->NewCache();
  const absl::Status s = (*r)->Forward(ids, *cache, logits);
  EXPECT_TRUE(s.ok()) << s;
  return logits;
}

// The first prompt (row 0 of input_ids) of a fixture's golden.safetensors.
inline std::vector<int32_t> GoldenPrompt(const std::filesystem::path& dir) {
  const auto g = ReadRawSafetensors(dir / "golden.safetensors");
  const RawTensor& ids = g.at("input_ids");
  std::vector<int32_t> prompt(ids.shape[1]);
  std::memcpy(prompt.data(), ids.bytes.data(), prompt.size() * 4);
  return prompt;
}

// A tensor of `m` as F32 (empty, and a test failure, when it is missing or not a float dtype).
inline std::vector<float> TensorValues(const Model& m, const std::string& name) {
  const TensorEntry* e = m.tensors.Find(name);
  EXPECT_NE(e, nullptr) << name;
  if (e == nullptr) return {};
  auto v = ReadAllAsF32(*e->source, e->info);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : std::vector<float>{};
}

// max |a - b| over max |b| (a and b of equal size).
inline double RelativeDiff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0, m = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    d = std::max(d, std::fabs(double(a[i]) - b[i]));
    m = std::max(m, std::fabs(double(b[i])));
  }
  return d / m;
}

}  // namespace quantc::testing
