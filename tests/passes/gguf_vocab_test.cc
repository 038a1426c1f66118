// The GGUF tokenizer keys written by gguf-layout, and the tokenizer rebuilt from them, against the
// checkpoint's own tokenizer.json: same ids on whole texts, llama.cpp's token types and special ids.
#include "passes/util/gguf_vocab.h"

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/support/file_util.h"
#include "lib/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"

namespace quantc::passes {
namespace {

namespace fs = std::filesystem;
const fs::path kData = QUANTC_TESTDATA_DIR;

TEST(GgufVocab, KeysFollowTheConverter) {
  const fs::path folder = kData / "tiny-qwen2-bf16";
  auto config = nlohmann::ordered_json::parse(*ReadFileToString(folder / "config.json"));
  auto md = GgufTokenizerMetadata(folder, config, 4096);
  ASSERT_TRUE(md.ok()) << md.status();
  EXPECT_EQ(md->Find("tokenizer.ggml.model")->Get<std::string>(), "gpt2");
  EXPECT_EQ(md->Find("tokenizer.ggml.pre")->Get<std::string>(), "qwen2");
  const auto& tokens = *md->Find("tokenizer.ggml.tokens")->GetArray<std::string>();
  const auto& types = *md->Find("tokenizer.ggml.token_type")->GetArray<int32_t>();
  ASSERT_EQ(tokens.size(), 4096u);
  EXPECT_EQ(tokens[4093], "<|endoftext|>");
  EXPECT_EQ(types[4093], 3);  // control: an added special token
  EXPECT_EQ(types[0], 1);
  EXPECT_EQ(md->Find("tokenizer.ggml.merges")->size(), 3837u);
  EXPECT_EQ(md->Find("tokenizer.ggml.eos_token_id")->Get<uint32_t>(), 4093u);
  EXPECT_EQ(md->Find("tokenizer.ggml.bos_token_id")->Get<uint32_t>(), 4093u);  // config.json's bos_token_id
  EXPECT_EQ(md->Find("tokenizer.ggml.add_bos_token")->Get<bool>(), false);
  // A vocabulary larger than the tokenizer's: holes become unused [PAD<id>] tokens.
  auto wide = GgufTokenizerMetadata(folder, config, 4100);
  ASSERT_TRUE(wide.ok());
  EXPECT_EQ(wide->Find("tokenizer.ggml.tokens")->GetArray<std::string>()->at(4099), "[PAD4099]");
  EXPECT_EQ(wide->Find("tokenizer.ggml.token_type")->GetArray<int32_t>()->at(4099), 5);
}

TEST(GgufVocab, UnknownPreTokenizerIsAnError) {
  EXPECT_EQ(GgufPreTokenizerName({"\\p{L}+"}), std::nullopt);
  EXPECT_EQ(GgufPreTokenizerName({}), std::nullopt);
}

// A hostile or broken tokenizer.json gives an error naming the file, never an exception out of the
// library (the reader walks the raw JSON a second time, after the tokenizer's own checks).
TEST(GgufVocab, WrongTypedTokenizerKeysAreErrors) {
  const fs::path src = kData / "tiny-qwen2-bf16";
  const auto original = nlohmann::ordered_json::parse(*ReadFileToString(src / "tokenizer.json"));
  const fs::path folder = fs::path(::testing::TempDir()) / "gguf_vocab_hostile";
  fs::create_directories(folder);
  const std::vector<std::pair<std::string, nlohmann::ordered_json>> cases = {
      {"/model/vocab/a", "7"},                            // an id that is a string
      {"/model/vocab/a", 1e300},                          // an id past int64
      {"/model/merges/0", 42},                            // a merge that is a number
      {"/model/merges/1", nlohmann::ordered_json::array({"a"})},  // a pair of one
      {"/model/type", 3},                                 // the model type a number
      {"/model/vocab", nlohmann::ordered_json::array()},  // vocab an array
      {"/pre_tokenizer/type", nullptr},
      {"/added_tokens/0", "not an object"},
      {"/added_tokens/0/special", "yes"},
  };
  for (const auto& [pointer, value] : cases) {
    nlohmann::ordered_json tok = original;
    tok[nlohmann::ordered_json::json_pointer(pointer)] = value;
    std::ofstream(folder / "tokenizer.json") << tok.dump();
    absl::StatusOr<Metadata> md;
    ASSERT_NO_THROW(md = GgufTokenizerMetadata(folder, nlohmann::ordered_json::object(), 4096)) << pointer;
    if (!md.ok()) EXPECT_THAT(std::string(md.status().message()), ::testing::HasSubstr("tokenizer.json")) << pointer;
  }
  // A merge of the wrong shape is refused outright.
  nlohmann::ordered_json tok = original;
  tok["model"]["merges"][0] = 42;
  std::ofstream(folder / "tokenizer.json") << tok.dump();
  auto md = GgufTokenizerMetadata(folder, nlohmann::ordered_json::object(), 4096);
  EXPECT_EQ(md.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(md.status().message()), ::testing::HasSubstr("a merge is neither"));
}

TEST(GgufVocab, RebuiltTokenizerEncodesWholeTextsLikeTheOriginal) {
  for (const char* model : {"tiny-qwen2-bf16", "tiny-llama-bf16", "tiny-deepseek-v3-bf16"}) {
    const fs::path folder = kData / model;
    auto config = nlohmann::ordered_json::parse(*ReadFileToString(folder / "config.json"));
    auto md = GgufTokenizerMetadata(folder, config, 4096);
    ASSERT_TRUE(md.ok()) << md.status();
    auto files = TokenizerFilesFromGguf(*md, "test.gguf");
    ASSERT_TRUE(files.ok()) << files.status();
    auto rebuilt = tokenizer::Tokenizer::FromJson(files->tokenizer_json, files->tokenizer_config_json);
    ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
    auto original = tokenizer::Tokenizer::FromFile(folder / "tokenizer.json");
    ASSERT_TRUE(original.ok());
    const std::string text = *ReadFileToString(kData / "valid.txt") + " <|im_start|>user<|im_end|>";
    auto a = (*original)->Encode(text, false), b = (*rebuilt)->Encode(text, false);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(*a, *b) << model;
    EXPECT_GT(a->size(), 100000u);
    EXPECT_EQ(*(*rebuilt)->Decode(*b), *(*original)->Decode(*a)) << model;
  }
}

}  // namespace
}  // namespace quantc::passes
