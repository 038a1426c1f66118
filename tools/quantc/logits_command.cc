// `quantc logits MODEL --text FILE [--tokenizer DIR] [--positions 256] [--greedy 16]
//  [--llama-cpp-numerics] [--full-logits N] -o OUT.json`: the runner's teacher-forced predictions over the first
// tokens of a text — per position the top-1 id and its margin over the runner-up — and a greedy
// continuation, as JSON. It is one side of the comparison with llama.cpp
// (tools/validators/check_llama_cpp.py runs llama.cpp on the same ids and file).
#include <algorithm>
#include <fstream>
#include <memory>
#include <string>

#include "lib/support/file_util.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "nlohmann/json.hpp"
#include "tools/quantc/commands.h"
#include "tools/quantc/loaded_model.h"

namespace quantc::tools {
namespace {

struct LogitsOptions {
  std::string model, text, ids, tokenizer, output;
  int64_t positions = 256, greedy = 16, full_logits = 0;
  std::string target = "cpu";
  bool llama_cpp_numerics = false;
};

struct Top2 {
  int32_t id;
  float logit;   // the top-1 logit
  float margin;  // top-1 logit minus top-2 logit
};

Top2 TopTwo(std::span<const float> logits) {
  int32_t best = 0;
  float first = -INFINITY, second = -INFINITY;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] > first) {
      second = first, first = logits[i], best = static_cast<int32_t>(i);
    } else if (logits[i] > second) {
      second = logits[i];
    }
  }
  return {best, first, first - second};
}

absl::Status RunLogits(const LogitsOptions& o) {
  runner::RunnerOptions ro;
  ro.llama_cpp_activations = o.llama_cpp_numerics;
  const bool npu_target = o.target == "npu";
  LoadedModel m;
  LoadedNpuPipeline npu;
  if (npu_target) {
    QC_ASSIGN_OR_RETURN(npu, LoadNpuPipeline(o.model, o.tokenizer));
  } else {
    QC_ASSIGN_OR_RETURN(m, LoadModel(o.model, /*with_tokenizer=*/true, o.tokenizer, ro));
  }
  std::vector<int32_t> ids;
  if (!o.ids.empty()) {
    QC_ASSIGN_OR_RETURN(std::string text, ReadFileToString(o.ids));
    auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!j.is_array()) return absl::InvalidArgumentError(StrCat(o.ids, ": not a JSON array of token ids"));
    for (const auto& x : j) {
      if (!x.is_number_integer()) return absl::InvalidArgumentError(StrCat(o.ids, ": not a JSON array of token ids"));
      ids.push_back(x.get<int32_t>());
    }
  } else {
    QC_ASSIGN_OR_RETURN(ids, TokenizeFile(npu_target ? *npu.tokenizer : *m.tokenizer, o.text));
  }
  if (static_cast<int64_t>(ids.size()) > o.positions) ids.resize(static_cast<size_t>(o.positions));
  if (ids.empty()) return absl::InvalidArgumentError(StrCat(o.text, ": no tokens"));
  const int64_t vocab = npu_target ? npu.pipeline->vocab() : m.runner->spec().vocab_size, n = static_cast<int64_t>(ids.size());
  std::unique_ptr<runner::KvCache> cache;
  std::vector<float> logits(static_cast<size_t>(n * vocab));
  if (npu_target) {
    QC_RETURN_IF_ERROR(npu.pipeline->Forward(ids, logits));
  } else {
    cache = m.runner->NewCache();
    QC_RETURN_IF_ERROR(m.runner->Forward(ids, *cache, logits));
  }
  nlohmann::json out;
  out["model"] = o.model;
  out["ids"] = ids;
  std::vector<int32_t> top1;
  std::vector<float> margin, top1_logit;
  for (int64_t t = 0; t < n; ++t) {
    Top2 top = TopTwo(std::span<const float>(logits).subspan(t * vocab, vocab));
    top1.push_back(top.id);
    top1_logit.push_back(top.logit);
    margin.push_back(top.margin);
  }
  nlohmann::json full = nlohmann::json::array();
  for (int64_t t = 0; t < std::min(n, o.full_logits); ++t) {
    full.push_back(std::vector<float>(logits.begin() + t * vocab, logits.begin() + (t + 1) * vocab));
  }
  if (o.full_logits > 0) out["full_logits"] = std::move(full);
  out["top1"] = top1;
  out["top1_logit"] = top1_logit;
  out["margin"] = margin;
  std::vector<int32_t> greedy;
  std::vector<float> greedy_margin;
  if (npu_target && o.greedy > 0) {  // the iterator model, one token at a time
    QC_ASSIGN_OR_RETURN(greedy, npu.pipeline->Generate(ids, o.greedy));
  }
  std::vector<float> step(static_cast<size_t>(vocab));
  int32_t next = top1.back();
  float next_margin = margin.back();
  for (int64_t i = 0; i < (npu_target ? 0 : o.greedy); ++i) {
    greedy.push_back(next);
    greedy_margin.push_back(next_margin);
    if (i + 1 == o.greedy) break;
    QC_RETURN_IF_ERROR(m.runner->Forward(std::span(&greedy.back(), 1), *cache, step));
    Top2 top = TopTwo(step);
    next = top.id, next_margin = top.margin;
  }
  out["greedy"] = greedy;
  out["greedy_margin"] = greedy_margin;
  std::ofstream f(o.output);
  f << out.dump() << "\n";
  if (!f) return absl::InternalError(StrCat(o.output, ": cannot write"));
  return absl::OkStatus();
}

}  // namespace

CommandRunner AddLogitsCommand(CLI::App& app, const GlobalOptions& global) {
  (void)global;
  auto o = std::make_shared<LogitsOptions>();
  app.add_option("model", o->model, "checkpoint folder or .gguf file")->required();
  auto* text = app.add_option("--text", o->text, "text file; its first --positions tokens are evaluated");
  auto* ids = app.add_option("--ids", o->ids, "instead of --text: a JSON array of token ids");
  text->excludes(ids);
  app.callback([text, ids] {
    if (text->count() + ids->count() == 0) throw CLI::RequiredError("--text or --ids");
  });
  app.add_option("--tokenizer", o->tokenizer, "folder with tokenizer.json (default: the model's)");
  app.add_option("--positions", o->positions, "positions to teacher-force")->capture_default_str();
  app.add_option("--greedy", o->greedy, "greedy tokens after the text")->capture_default_str();
  app.add_flag("--llama-cpp-numerics", o->llama_cpp_numerics,
               "round activations as llama.cpp's CPU matmuls do (Q8_0/Q8_1/Q8_K/F16/BF16 per weight type)");
  app.add_option("--full-logits", o->full_logits, "also write every logit of the first N positions")
      ->capture_default_str();
  app.add_option("--target", o->target, "cpu: the reference runner; npu: MODEL is a --format onnx-qdq folder run as written")
      ->check(CLI::IsMember({"cpu", "npu"}))
      ->capture_default_str();
  app.add_option("-o,--output", o->output, "JSON file to write")->required();
  return [o] { return RunLogits(*o); };
}

}  // namespace quantc::tools
