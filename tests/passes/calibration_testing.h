// Helpers of the calibrating passes' tests (gptq, allocate): a fixture read from testdata, the
// tokens of the start of a text, and the mean KLD of a model against a reference runner.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "formats/hf/hf_folder.h"
#include "gtest/gtest.h"
#include "lib/runner/eval.h"
#include "lib/runner/runner.h"
#include "lib/support/file_util.h"
#include "lib/tokenizer/tokenizer.h"

namespace quantc::passes {

inline const std::filesystem::path kTestdata = QUANTC_TESTDATA_DIR;

// The tokens of the first `bytes` of a text (enough for what the tests run; tokenizing all of
// calib.txt would cost more than the test).
inline std::vector<int32_t> Tokens(const std::filesystem::path& model_dir, const std::filesystem::path& text_file, size_t bytes) {
  auto tok = tokenizer::Tokenizer::FromFile(model_dir / "tokenizer.json");
  EXPECT_TRUE(tok.ok()) << tok.status();
  auto text = ReadFileToString(text_file);
  EXPECT_TRUE(text.ok()) << text.status();
  auto ids = (*tok)->Encode(std::string_view(*text).substr(0, bytes), false);
  EXPECT_TRUE(ids.ok()) << ids.status();
  return std::move(*ids);
}

inline Model Read(const std::string& fixture) {
  auto model = formats::ReadHfFolder(kTestdata / fixture);
  EXPECT_TRUE(model.ok()) << model.status();
  return std::move(*model);
}

// Mean KLD against `ref` over the first 4096 tokens of valid.txt (ctx 512).
inline double Kld(const Model& model, const runner::Runner& ref, const std::vector<int32_t>& valid) {
  auto r = runner::Runner::Create(model);
  EXPECT_TRUE(r.ok()) << r.status();
  auto result = runner::Evaluate(**r, &ref, valid, {.ctx = 512, .max_tokens = 4096});
  EXPECT_TRUE(result.ok()) << result.status();
  return result->ref->kld_mean;
}

}  // namespace quantc::passes
