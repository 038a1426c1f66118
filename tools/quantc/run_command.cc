// `quantc run MODEL --prompt TEXT -n N [--ids] [--target cpu|gpu]`: greedy continuation with the
// reference runner, or its CUDA twin.
#include <algorithm>
#include <memory>
#include <string>

#include "fmt/core.h"
#include "lib/support/status_macros.h"
#include "tools/quantc/commands.h"
#include "tools/quantc/gpu_target.h"
#include "tools/quantc/loaded_model.h"

namespace quantc::tools {
namespace {

struct RunOptions {
  std::string tokenizer, model, prompt, target = "cpu";
  int64_t tokens = 32;
  bool ids = false;
};

absl::StatusOr<std::vector<int32_t>> CpuGreedy(const runner::Runner& r, std::span<const int32_t> prompt, int64_t n,
                                               std::optional<int32_t> eos) {
  const int64_t vocab = r.spec().vocab_size;
  auto cache = r.NewCache();
  std::vector<float> logits(prompt.size() * vocab);
  QC_RETURN_IF_ERROR(r.Forward(prompt, *cache, logits));
  std::vector<int32_t> out;
  std::span<const float> last = std::span<const float>(logits).subspan((prompt.size() - 1) * vocab, vocab);
  std::vector<float> step(vocab);
  while (true) {
    out.push_back(static_cast<int32_t>(std::max_element(last.begin(), last.end()) - last.begin()));
    if ((eos && out.back() == *eos) || static_cast<int64_t>(out.size()) == n) return out;
    QC_RETURN_IF_ERROR(r.Forward(std::span(&out.back(), 1), *cache, step));
    last = step;
  }
}

absl::Status RunRun(const RunOptions& o) {
  QC_ASSIGN_OR_RETURN(LoadedModel m, LoadModel(o.model, /*with_tokenizer=*/true, o.tokenizer));
  QC_ASSIGN_OR_RETURN(std::vector<int32_t> prompt, m.tokenizer->Encode(o.prompt, /*add_special_tokens=*/true));
  if (prompt.empty()) return absl::InvalidArgumentError("--prompt encodes to no tokens");
  const std::optional<int32_t> eos = m.tokenizer->eos_id();
  std::vector<int32_t> out;
  if (o.target == "gpu") {
    QC_ASSIGN_OR_RETURN(GpuTarget gpu, MakeGpuTarget(*m.model));
    QC_ASSIGN_OR_RETURN(out, gpu.generate(prompt, o.tokens, eos));
  } else {
    QC_ASSIGN_OR_RETURN(out, CpuGreedy(*m.runner, prompt, o.tokens, eos));
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
  app.add_option("--target", o->target,
                 "cpu: quantc's reference runner; gpu: the same forward pass on a CUDA device (dense qwen2/llama so far)")
      ->capture_default_str()
      ->check(CLI::IsMember({"cpu", "gpu"}));
  return [o] { return RunRun(*o); };
}

}  // namespace quantc::tools
