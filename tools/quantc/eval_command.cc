// `quantc eval MODEL --text FILE [--ctx 512] [--max-tokens 65536] [--ref REF] [--json]`:
// perplexity with the fixtures' protocol, and with --ref the KL divergence and agreement with a
// reference model (lib/runner/eval.h).
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "fmt/core.h"
#include "lib/runner/eval.h"
#include "lib/support/progress.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "nlohmann/json.hpp"
#include "tools/quantc/commands.h"
#include "tools/quantc/gpu_target.h"
#include "tools/quantc/loaded_model.h"

namespace quantc::tools {
namespace {

struct EvalCliOptions {
  std::string tokenizer, model, text, ref;
  runner::EvalOptions eval;
  std::string target = "cpu";
  bool json = false, llama_cpp_numerics = false;
};

absl::Status RunEval(const EvalCliOptions& o, const GlobalOptions& global) {
  runner::RunnerOptions ro;
  ro.llama_cpp_activations = o.llama_cpp_numerics;
  LoadedModel m;
  LoadedNpuPipeline npu;
  if (o.target == "npu") {
    QC_ASSIGN_OR_RETURN(npu, LoadNpuPipeline(o.model, o.tokenizer));
    if (o.eval.ctx > npu.pipeline->cache()) {
      return absl::InvalidArgumentError(StrCat("--ctx ", o.eval.ctx, " exceeds the NPU pipeline's ", npu.pipeline->cache(), "-token KV cache"));
    }
  } else {
    QC_ASSIGN_OR_RETURN(m, LoadModel(o.model, /*with_tokenizer=*/true, o.tokenizer, ro));
  }
  tokenizer::Tokenizer& tok = o.target == "npu" ? *npu.tokenizer : *m.tokenizer;
  LoadedModel ref;
  if (!o.ref.empty()) {
    QC_ASSIGN_OR_RETURN(ref, LoadModel(o.ref, /*with_tokenizer=*/false));
  }
  QC_ASSIGN_OR_RETURN(std::vector<int32_t> ids, TokenizeFile(tok, o.text));
  const int64_t windows = runner::EvalWindows(static_cast<int64_t>(ids.size()), o.eval);
  // Progress counts scored tokens: windows * (ctx - 1).
  Progress progress("eval", static_cast<uint64_t>(windows * (o.eval.ctx - 1)), static_cast<uint64_t>(windows),
                    !global.quiet && Progress::StderrIsTerminal(), "tokens", "windows");
  auto start = std::chrono::steady_clock::now();
  GpuTarget gpu;
  if (o.target == "gpu") {
    QC_ASSIGN_OR_RETURN(gpu, MakeGpuTarget(*m.model, ro));
  }
  const runner::WindowModel model =
      o.target == "npu"   ? runner::WindowModel{npu.pipeline->vocab(),
                                                [&](std::span<const int32_t> w, std::span<float> l) { return npu.pipeline->Forward(w, l); }}
      : o.target == "gpu" ? gpu.model
                          : runner::AsWindowModel(*m.runner);
  std::optional<runner::WindowModel> ref_model;
  if (ref.runner) ref_model = runner::AsWindowModel(*ref.runner);
  QC_ASSIGN_OR_RETURN(runner::EvalResult r,
                      runner::Evaluate(model, ref_model ? &*ref_model : nullptr, ids, o.eval,
                                       [&](int64_t, int64_t) { progress.Advance(o.eval.ctx - 1, 1); }));
  progress.Finish();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (o.json) {
    nlohmann::ordered_json j{{"ppl", r.ppl}, {"nll", r.nll}, {"tokens", r.tokens}, {"windows", r.windows},
                             {"ctx", o.eval.ctx}, {"seconds", secs}};
    if (r.ref) {
      j["ref_ppl"] = r.ref->ref_ppl;
      j["kld_mean"] = r.ref->kld_mean;
      j["kld_p99"] = r.ref->kld_p99;
      j["kld_p999"] = r.ref->kld_p999;
      j["top1_agree"] = r.ref->top1_agree;
      j["delta_p_mean"] = r.ref->delta_p_mean;
    }
    fmt::print("{}\n", j.dump());
    return absl::OkStatus();
  }
  fmt::print("{}: ppl {:.4f} (nll {:.6f}) over {} tokens, {} windows of {}, {:.1f} s\n", o.model, r.ppl, r.nll,
             r.tokens, r.windows, o.eval.ctx, secs);
  if (r.ref) {
    fmt::print("vs {}: ref ppl {:.4f}, KLD mean {:.6f} p99 {:.6f} p99.9 {:.6f}, same top-1 {:.2f}%, mean dp {:+.6f}\n",
               o.ref, r.ref->ref_ppl, r.ref->kld_mean, r.ref->kld_p99, r.ref->kld_p999, 100 * r.ref->top1_agree,
               r.ref->delta_p_mean);
  }
  return absl::OkStatus();
}

}  // namespace

CommandRunner AddEvalCommand(CLI::App& app, const GlobalOptions& global) {
  auto o = std::make_shared<EvalCliOptions>();
  app.add_option("model", o->model, "checkpoint folder or .gguf file")->required();
  app.add_option("--tokenizer", o->tokenizer, "folder with tokenizer.json, for a .gguf model (default: next to the file)");
  app.add_option("--text", o->text, "evaluation text (never the calibration text)")->required()
      ->check(CLI::ExistingFile);
  app.add_option("--ctx", o->eval.ctx, "window length")->capture_default_str()->check(CLI::Range(2, 1 << 20));
  app.add_option("--max-tokens", o->eval.max_tokens, "evaluate the first N tokens")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--ref", o->ref, "reference model: adds KL divergence, same-top-1 and delta-p");
  app.add_flag("--llama-cpp-numerics", o->llama_cpp_numerics,
               "evaluate MODEL as llama.cpp's CPU backend computes it (activations rounded per weight type, "
               "integer dot products for block types; faster on GGUF); the reference stays exact");
  app.add_option("--target", o->target,
                 "cpu: quantc's reference runner; gpu: the same forward pass on a CUDA device (dense qwen2/llama so "
                 "far); npu: MODEL is a --format onnx-qdq folder, run as its integer pipeline (uint16 activations, "
                 "int4 weights, static chunks and KV cache), exactly as written")
      ->check(CLI::IsMember({"cpu", "gpu", "npu"}))
      ->capture_default_str();
  app.add_flag("--json", o->json, "print one JSON object");
  return [o, &global] { return RunEval(*o, global); };
}

}  // namespace quantc::tools
