// `quantc run MODEL --prompt TEXT -n N [--ids]`: greedy continuation with the reference runner.
#include <algorithm>
#include <memory>
#include <string>

#include "fmt/core.h"
#include "lib/support/status_macros.h"
#include "tools/quantc/commands.h"
#include "tools/quantc/loaded_model.h"

namespace quantc::tools {
namespace {

struct RunOptions {
  std::string tokenizer, model, prompt;
  int64_t tokens = 32;
  bool ids = false;
};

absl::Status RunRun(const RunOptions& o) {
  QC_ASSIGN_OR_RETURN(LoadedModel m, LoadModel(o.model, /*with_tokenizer=*/true, o.tokenizer));
  QC_ASSIGN_OR_RETURN(std::vector<int32_t> prompt, m.tokenizer->Encode(o.prompt, /*add_special_tokens=*/true));
  if (prompt.empty()) return absl::InvalidArgumentError("--prompt encodes to no tokens");
  const int64_t vocab = m.runner->spec().vocab_size;
  auto cache = m.runner->NewCache();
  std::vector<float> logits(prompt.size() * vocab);
  QC_RETURN_IF_ERROR(m.runner->Forward(prompt, *cache, logits));
  std::vector<int32_t> out;
  std::span<const float> last = std::span<const float>(logits).subspan((prompt.size() - 1) * vocab, vocab);
  std::vector<float> step(vocab);
  for (int64_t i = 0; i < o.tokens; ++i) {
    const int32_t next = static_cast<int32_t>(std::max_element(last.begin(), last.end()) - last.begin());
    out.push_back(next);
    if (m.tokenizer->eos_id() && next == *m.tokenizer->eos_id()) break;
    if (i + 1 == o.tokens) break;
    QC_RETURN_IF_ERROR(m.runner->Forward(std::span(&out.back(), 1), *cache, step));
    last = step;
  }
  if (o.ids) {
    for (size_t i = 0; i < out.size(); ++i) fmt::print("{}{}", i ? " " : "", out[i]);
    fmt::print("\n");
    return absl::OkStatus();
  }
  QC_ASSIGN_OR_RETURN(std::string text, m.tokenizer->Decode(out, /*skip_special_tokens=*/false));
  fmt::print("{}\n", text);
  return absl::OkStatus();
}

}  // namespace

CommandRunner AddRunCommand(CLI::App& app, const GlobalOptions& global) {
  (void)global;
  auto o = std::make_shared<RunOptions>();
  app.add_option("model", o->model, "checkpoint folder or .gguf file")->required();
  app.add_option("--tokenizer", o->tokenizer, "folder with tokenizer.json, for a .gguf model (default: next to the file)");
  app.add_option("-p,--prompt", o->prompt, "prompt text")->required();
  app.add_option("-n,--tokens", o->tokens, "tokens to generate (greedy; stops at EOS)")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_flag("--ids", o->ids, "print token ids instead of text");
  return [o] { return RunRun(*o); };
}

}  // namespace quantc::tools
