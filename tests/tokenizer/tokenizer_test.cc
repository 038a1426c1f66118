// Tests of lib/tokenizer. Fixture ids are the ones transformers.js gives (not our own output):
// @huggingface/transformers 4.3.1, PreTrainedTokenizer built from testdata/tiny-qwen2-bf16's
// tokenizer.json + tokenizer_config.json, `tokenizer.encode(text)`, Node 20. The whole-file
// comparison with the same reference is the ctest tokenizer_matches_transformers_js_*.
// Synthetic tokenizers below are small enough that the BPE result is worked out by hand.
#include "lib/tokenizer/tokenizer.h"

#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/support/file_util.h"
#include "lib/support/strings.h"
#include "tests/status_matchers.h"

namespace quantc::tokenizer {
namespace {

using ::quantc::testing::IsOkAndHolds;
using ::quantc::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::filesystem::path kFixture = std::filesystem::path(QUANTC_TESTDATA_DIR) / "tiny-qwen2-bf16";

std::unique_ptr<Tokenizer> LoadFixture() {
  auto tokenizer = Tokenizer::FromFile(kFixture / "tokenizer.json");
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return tokenizer.ok() ? *std::move(tokenizer) : nullptr;
}

TEST(TokenizerFixture, Loads) {
  auto tok = LoadFixture();
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->vocab_size(), 4096);
  EXPECT_EQ(tok->TokenId("<|endoftext|>"), 4093);
  EXPECT_EQ(tok->TokenId("<|im_start|>"), 4094);
  EXPECT_EQ(tok->TokenId("<|im_end|>"), 4095);
  EXPECT_EQ(tok->TokenId("no such token"), std::nullopt);
  EXPECT_EQ(tok->bos_id(), std::nullopt);  // tokenizer_config.json: "bos_token": null
  EXPECT_EQ(tok->eos_id(), 4093);
}

TEST(TokenizerFixture, KnownIdsFromTransformersJs) {
  auto tok = LoadFixture();
  ASSERT_NE(tok, nullptr);
  struct Case {
    std::string text;
    std::vector<int32_t> ids;
  };
  const std::vector<Case> cases = {
      {"Hello world", {39, 316, 309, 3657, 2018}},
      {"<|im_start|>user\nHi there!<|im_end|>\n", {4094, 1942, 198, 39, 72, 1010, 0, 4095, 198}},
      {"h\u00e9llo w\u00f6rld 123 don't  \n\n  x",
       {71, 127, 102, 75, 309, 288, 127, 114, 81, 2018, 220, 16, 17, 18, 2366, 849, 256, 198, 198, 220, 1144}},
      // Decomposed input: NFC composes e + U+0301 and i + U+0308 first.
      {"Cafe\u0301 nai\u0308ve", {34, 1933, 127, 102, 308, 64, 127, 107, 367}},
      {"\u4f60\u597d\uff0c\u4e16\u754c\u3002", {1284, 2949, 434, 351, 244, 2238, 234, 449}},
      {"\U0001F642 ok", {172, 253, 247, 224, 289, 74}},
      {"a<|endoftext|>b", {64, 4093, 65}},
      {"", {}},
      {"  leading\ttab\r\nIt's 2024-05-01: $3.50!",
       {220, 696, 340, 290, 197, 83, 350, 201, 198, 2259, 637, 220, 17, 15, 17, 19, 12, 15, 20, 12, 15, 16, 25,
        1334, 18, 13, 20, 15, 0}},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(tok->Encode(c.text), IsOkAndHolds(ElementsAreArray(c.ids))) << "text: " << c.text;
  }
}

TEST(TokenizerFixture, SpecialTokensAreMatchedBeforeSplitting) {
  auto tok = LoadFixture();
  ASSERT_NE(tok, nullptr);
  // The Split regex alone would cut "<|im_start|>" into punctuation and a word; the added token
  // is found first, even inside a word and with add_special_tokens=false (which only concerns
  // the post-processor).
  for (bool add_special : {true, false}) {
    auto ids = tok->Encode("x<|im_start|>y<|im_end|><|endoftext|>", add_special);
    ASSERT_TRUE(ids.ok()) << ids.status();
    auto x = tok->Encode("x");
    auto y = tok->Encode("y");
    ASSERT_TRUE(x.ok() && y.ok());
    std::vector<int32_t> expected = *x;
    expected.push_back(4094);
    expected.insert(expected.end(), y->begin(), y->end());
    expected.push_back(4095);
    expected.push_back(4093);
    EXPECT_EQ(*ids, expected);
  }
  // A near miss is ordinary text.
  auto near = tok->Encode("<|im_start|");
  ASSERT_TRUE(near.ok());
  EXPECT_THAT(*near, ::testing::Not(::testing::Contains(4094)));
}

TEST(TokenizerFixture, DecodeSkipsSpecialTokensOnRequest) {
  auto tok = LoadFixture();
  ASSERT_NE(tok, nullptr);
  std::vector<int32_t> ids = {4094, 1942, 198, 39, 72, 1010, 0, 4095, 198};
  EXPECT_THAT(tok->Decode(ids), IsOkAndHolds(std::string("<|im_start|>user\nHi there!<|im_end|>\n")));
  EXPECT_THAT(tok->Decode(ids, /*skip_special_tokens=*/true), IsOkAndHolds(std::string("user\nHi there!\n")));
}

TEST(TokenizerFixture, DecodeReplacesPartialUtf8AndRejectsUnknownIds) {
  auto tok = LoadFixture();
  ASSERT_NE(tok, nullptr);
  // "🙂 ok" is {172, 253, 247, 224, 289, 74}: the emoji's four bytes are four tokens.
  EXPECT_THAT(tok->Decode(std::vector<int32_t>{172, 253, 289, 74}), IsOkAndHolds(std::string("\uFFFD ok")));
  EXPECT_THAT(tok->Decode(std::vector<int32_t>{39, 4096}),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("id 4096")));
  EXPECT_THAT(tok->Decode(std::vector<int32_t>{-1}), StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("id -1")));
  EXPECT_THAT(tok->Decode(std::vector<int32_t>{}), IsOkAndHolds(std::string()));
}

TEST(TokenizerFixture, RejectsInvalidUtf8) {
  auto tok = LoadFixture();
  ASSERT_NE(tok, nullptr);
  EXPECT_THAT(tok->Encode("ab\xC3"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("UTF-8")));
  EXPECT_THAT(tok->Encode("\xED\xA0\x80"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("UTF-8")));
}

TEST(TokenizerFixture, RoundTripsValidTxtAndTimesBothTexts) {
  auto tok = LoadFixture();
  ASSERT_NE(tok, nullptr);
  double seconds = 0;
  size_t total_ids = 0;
  for (const char* name : {"valid.txt", "calib.txt"}) {
    auto text = ReadFileToString(std::filesystem::path(QUANTC_TESTDATA_DIR) / name);
    ASSERT_TRUE(text.ok()) << text.status();
    auto start = std::chrono::steady_clock::now();
    auto ids = tok->Encode(*text);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSERT_TRUE(ids.ok()) << ids.status();
    total_ids += ids->size();
    if (std::string_view(name) != "valid.txt") continue;
    auto nfc = Normalizer({NormalForm::kNFC}).Normalize(*text);
    ASSERT_TRUE(nfc.ok());
    auto decoded = tok->Decode(*ids);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_TRUE(*decoded == *nfc) << "decode(encode(valid.txt)) differs from NFC(valid.txt)";
  }
  std::cout << "encoded valid.txt + calib.txt: " << total_ids << " ids in " << seconds << " s\n";
}

TEST(TokenizerFixture, RoundTripNormalizesToNfc) {
  auto tok = LoadFixture();
  ASSERT_NE(tok, nullptr);
  auto ids = tok->Encode("Cafe\u0301 \u212B");  // e + combining acute; ANGSTROM SIGN -> Å
  ASSERT_TRUE(ids.ok());
  EXPECT_THAT(tok->Decode(*ids), IsOkAndHolds(std::string("Caf\u00e9 \u00c5")));
}

TEST(TokenizerFixture, FixtureFamiliesLoad) {
  for (const char* family : {"tiny-qwen2-bf16", "tiny-llama-bf16", "tiny-deepseek-v3-bf16"}) {
    auto tok = Tokenizer::FromFile(std::filesystem::path(QUANTC_TESTDATA_DIR) / family / "tokenizer.json");
    ASSERT_TRUE(tok.ok()) << family << ": " << tok.status();
    EXPECT_EQ((*tok)->vocab_size(), 4096) << family;
  }
}

// ---- Synthetic tokenizers ----------------------------------------------------------------------

// A byte-level BPE over a, b, c, space and é (in byte-level spelling "Ġ" and "Ã©", the latter
// with no merge). `model_extra` and `extra`
// are spliced into the model object and the top level.
std::string SyntheticJson(std::string_view merges = R"(["a b", "ab c", "Ġ a"])",
                          std::string_view added = "[]", std::string_view extra = "",
                          std::string_view model_extra = "") {
  return StrCat(R"({"version": "1.0", "added_tokens": )", added, R"(,
    "normalizer": {"type": "NFC"},
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
    "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},)",
                extra, R"(
    "model": {"type": "BPE", )", model_extra, R"(
      "vocab": {"a": 0, "b": 1, "c": 2, "Ġ": 3, "ab": 4, "abc": 5, "Ġa": 6, "bc": 7, "Ã": 20, "©": 21},
      "merges": )", merges, "}}");
}

absl::StatusOr<std::vector<int32_t>> EncodeWith(const std::string& json, std::string_view text,
                                                std::string_view config = "", bool add_special = true) {
  auto tok = Tokenizer::FromJson(json, config);
  if (!tok.ok()) return tok.status();
  return (*tok)->Encode(text, add_special);
}

TEST(TokenizerSynthetic, MergesApplyLowestRankFirst) {
  // a b (0), ab c (1): "abc" -> ab, c -> abc.
  EXPECT_THAT(EncodeWith(SyntheticJson(), "abc"), IsOkAndHolds(ElementsAre(5)));
  // b c (0) first leaves a + bc, which no merge joins.
  EXPECT_THAT(EncodeWith(SyntheticJson(R"(["b c", "a b", "ab c"])"), "abc"), IsOkAndHolds(ElementsAre(0, 7)));
  // Ties go left to right: "abab" -> ab ab; the GPT-2 regex keeps " a" together -> Ġa.
  EXPECT_THAT(EncodeWith(SyntheticJson(), "abab a"), IsOkAndHolds(ElementsAre(4, 4, 6)));
}

TEST(TokenizerSynthetic, MergesAsStringsOrPairsAgree) {
  EXPECT_THAT(EncodeWith(SyntheticJson(R"([["a", "b"], ["ab", "c"], ["Ġ", "a"]])"), "abc ab"),
              IsOkAndHolds(ElementsAre(5, 3, 4)));
  EXPECT_THAT(EncodeWith(SyntheticJson(), "abc ab"), IsOkAndHolds(ElementsAre(5, 3, 4)));
}

TEST(TokenizerSynthetic, IgnoreMergesTakesWholeWordsFromTheVocab) {
  // Only "a b" is a merge, so "abc" is ab + c unless ignore_merges finds "abc" in the vocab.
  EXPECT_THAT(EncodeWith(SyntheticJson(R"(["a b"])"), "abc"), IsOkAndHolds(ElementsAre(4, 2)));
  EXPECT_THAT(EncodeWith(SyntheticJson(R"(["a b"])", "[]", "", R"("ignore_merges": true,)"), "abc"),
              IsOkAndHolds(ElementsAre(5)));
}

TEST(TokenizerSynthetic, AddedTokenStripAndSingleWord) {
  auto added = [](std::string_view flags) {
    return StrCat(R"([{"id": 9, "content": "<x>", "special": true, "normalized": false, )", flags, "}]");
  };
  std::string plain = SyntheticJson(R"(["a b"])", added(R"("lstrip": false, "rstrip": false)"));
  std::string lstrip = SyntheticJson(R"(["a b"])", added(R"("lstrip": true, "rstrip": false)"));
  std::string rstrip = SyntheticJson(R"(["a b"])", added(R"("lstrip": false, "rstrip": true)"));
  EXPECT_THAT(EncodeWith(plain, "a <x> b"), IsOkAndHolds(ElementsAre(0, 3, 9, 3, 1)));
  EXPECT_THAT(EncodeWith(lstrip, "a <x> b"), IsOkAndHolds(ElementsAre(0, 9, 3, 1)));
  EXPECT_THAT(EncodeWith(rstrip, "a <x> b"), IsOkAndHolds(ElementsAre(0, 3, 9, 1)));

  std::string single = SyntheticJson(
      R"(["a b"])", R"([{"id": 9, "content": "ab", "single_word": true, "normalized": false, "special": false}])");
  EXPECT_THAT(EncodeWith(single, "ab c"), IsOkAndHolds(ElementsAre(9, 3, 2)));
  // Inside a word it is not matched (tokenizers' added_vocabulary.rs; transformers.js 4.3.1 ignores
  // single_word and gives 9, 2 here).
  EXPECT_THAT(EncodeWith(single, "abc"), IsOkAndHolds(ElementsAre(4, 2)));
}

TEST(TokenizerSynthetic, LongestAddedTokenWins) {
  std::string json = SyntheticJson(R"(["a b"])", R"([
      {"id": 9, "content": "<a>", "special": true, "normalized": false},
      {"id": 10, "content": "<a><b>", "special": true, "normalized": false}])");
  EXPECT_THAT(EncodeWith(json, "<a><b><a>"), IsOkAndHolds(ElementsAre(10, 9)));
}

TEST(TokenizerSynthetic, NormalizedAddedTokensMatchNormalizedText) {
  // A normalized added token written decomposed (e + U+0301) is looked for as NFC "é", in the
  // normalized text, so both spellings of the input match it.
  std::string normalized = SyntheticJson(
      R"(["a b"])", R"([{"id": 9, "content": "e\u0301", "special": false, "normalized": true}])");
  EXPECT_THAT(EncodeWith(normalized, "a\u00e9"), IsOkAndHolds(ElementsAre(0, 9)));
  EXPECT_THAT(EncodeWith(normalized, "ae\u0301"), IsOkAndHolds(ElementsAre(0, 9)));
  // normalized=false: only the raw spelling matches; "é" itself goes to BPE as Ã ©.
  std::string raw = SyntheticJson(
      R"(["a b"])", R"([{"id": 9, "content": "e\u0301", "special": false, "normalized": false}])");
  EXPECT_THAT(EncodeWith(raw, "ae\u0301"), IsOkAndHolds(ElementsAre(0, 9)));
  EXPECT_THAT(EncodeWith(raw, "a\u00e9"), IsOkAndHolds(ElementsAre(0, 20, 21)));
}

TEST(TokenizerSynthetic, TemplateProcessingAddsSpecialTokens) {
  std::string json = SyntheticJson(
      R"(["a b"])", R"([{"id": 9, "content": "<s>", "special": true, "normalized": false}])",
      R"("post_processor": {"type": "TemplateProcessing",
           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
           "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [9], "tokens": ["<s>"]}}},)");
  EXPECT_THAT(EncodeWith(json, "ab"), IsOkAndHolds(ElementsAre(9, 4)));
  EXPECT_THAT(EncodeWith(json, "ab", "", /*add_special=*/false), IsOkAndHolds(ElementsAre(4)));
}

TEST(TokenizerSynthetic, AddBosTokenFromTokenizerConfig) {
  std::string json = SyntheticJson(
      R"(["a b"])", R"([{"id": 9, "content": "<s>", "special": true, "normalized": false},
                        {"id": 10, "content": "</s>", "special": true, "normalized": false}])");
  std::string config = R"({"bos_token": {"content": "<s>"}, "eos_token": "</s>", "add_bos_token": true})";
  EXPECT_THAT(EncodeWith(json, "ab", config), IsOkAndHolds(ElementsAre(9, 4)));
  EXPECT_THAT(EncodeWith(json, "ab", config, /*add_special=*/false), IsOkAndHolds(ElementsAre(4)));
  auto tok = Tokenizer::FromJson(json, config);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->bos_id(), 9);
  EXPECT_EQ((*tok)->eos_id(), 10);
  EXPECT_THAT(Tokenizer::FromJson(json, R"({"bos_token": "<nope>"})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bos_token")));
}

// Behaviours as in tokenizers' NormalizedString::split. transformers.js 4.3.1 implements only
// Isolated, a partial Removed and invert (Split.ts), so it cannot be the reference here.
TEST(TokenizerSynthetic, SplitBehaviors) {
  auto with_split = [](std::string_view behavior, bool invert) {
    return StrCat(R"({"added_tokens": [], "normalizer": null, "decoder": null,
      "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"String": "-"}, "behavior": ")", behavior, R"(", "invert": )",
                  invert ? "true" : "false", R"(}]},
      "model": {"type": "BPE", "vocab": {"a": 0, "-": 1, "a-": 2, "-a": 3, "--": 4},
                "merges": ["a -", "- a", "- -"]}})");
  };
  // "a-a": Isolated a | - | a; Removed a | a; MergedWithPrevious a- | a; MergedWithNext a | -a.
  EXPECT_THAT(EncodeWith(with_split("Isolated", false), "a-a"), IsOkAndHolds(ElementsAre(0, 1, 0)));
  EXPECT_THAT(EncodeWith(with_split("Removed", false), "a-a"), IsOkAndHolds(ElementsAre(0, 0)));
  EXPECT_THAT(EncodeWith(with_split("MergedWithPrevious", false), "a-a"), IsOkAndHolds(ElementsAre(2, 0)));
  EXPECT_THAT(EncodeWith(with_split("MergedWithNext", false), "a-a"), IsOkAndHolds(ElementsAre(0, 3)));
  // Contiguous joins runs of delimiters: "a--a" -> a | -- | a.
  EXPECT_THAT(EncodeWith(with_split("Contiguous", false), "a--a"), IsOkAndHolds(ElementsAre(0, 4, 0)));
  // Inverted, "-" marks the pieces to keep and the rest is the delimiter: Removed keeps "-".
  EXPECT_THAT(EncodeWith(with_split("Removed", true), "a-a"), IsOkAndHolds(ElementsAre(1)));
}

TEST(TokenizerSynthetic, NoDecoderJoinsTokensWithSpaces) {
  auto tok = Tokenizer::FromJson(R"({"added_tokens": [], "normalizer": null, "pre_tokenizer": null,
      "decoder": null, "model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []}})");
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_THAT((*tok)->Decode(std::vector<int32_t>{0, 1, 0}), IsOkAndHolds(std::string("a b a")));
}

TEST(TokenizerSynthetic, UnsupportedConfigurationsNameTheFileAndKey) {
  struct Case {
    std::string json;
    std::string key;
  };
  const std::string base = SyntheticJson();
  auto replace = [&](std::string_view from, std::string_view to) {
    std::string s = base;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  const std::vector<Case> cases = {
      {replace(R"("type": "BPE")", R"("type": "WordPiece")"), "model.type"},
      {replace(R"("type": "NFC")", R"("type": "Lowercase")"), "normalizer.type"},
      {replace(R"("type": "ByteLevel", "add_prefix_space": false)", R"("type": "Metaspace", "add_prefix_space": false)"),
       "pre_tokenizer.type"},
      {replace(R"("decoder": {"type": "ByteLevel")", R"("decoder": {"type": "WordPiece")"), "decoder.type"},
      {replace(R"("type": "BPE", )", R"("type": "BPE", "dropout": 0.1, )"), "model.dropout"},
      {replace(R"("version": "1.0",)", R"("version": "1.0", "post_processor": {"type": "BertProcessing"},)"),
       "post_processor.type"},
      {replace(R"("type": "NFC"})", R"("type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Strip"}]})"),
       "normalizer.normalizers[1].type"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(Tokenizer::FromJson(c.json, "", "/models/x/tokenizer.json"),
                StatusIs(absl::StatusCode::kUnimplemented,
                         ::testing::AllOf(HasSubstr("/models/x/tokenizer.json"), HasSubstr(c.key))))
        << c.key;
  }
}

TEST(TokenizerSynthetic, MalformedFilesAreDataLoss) {
  EXPECT_THAT(Tokenizer::FromJson("{not json", "", "t.json"), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("t.json")));
  EXPECT_THAT(Tokenizer::FromJson(R"({"model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}})"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("model.vocab.a")));
  EXPECT_THAT(Tokenizer::FromJson(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}})"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("'b' is not in the vocab")));
  EXPECT_THAT(Tokenizer::FromJson(SyntheticJson(), "[1, 2]"), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("tokenizer_config.json")));
  EXPECT_THAT(Tokenizer::FromJson(SyntheticJson(R"(["a b"])", "[]", R"("post_processor": {"type": "TemplateProcessing",
           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
           "special_tokens": {"<s>": {"id": "<s>", "ids": [99], "tokens": ["<s>"]}}},)")),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("special token id 99")));
  EXPECT_THAT(Tokenizer::FromFile("/nonexistent/tokenizer.json"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent/tokenizer.json")));
}

}  // namespace
}  // namespace quantc::tokenizer
