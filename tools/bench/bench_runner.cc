// Benchmark: prefill and decode speed (tokens/s) of the CPU reference runner on a model folder.
//
//   bench_runner MODEL_DIR [--prefill 512] [--reps 3] [--decode 64] [--decode-context 32] [--threads N] [--json]
//
// Prefill: P random token ids (< vocab, fixed seed) through one Forward from an empty cache,
// repeated R times (a fresh cache each time); the best and the median are reported. The first
// repetition also pages the weights in from disk, so the best is the steady-state figure.
// Decode: a prefill of C tokens (untimed), then N single-token Forward calls, each asking for the
// logits and feeding back their argmax (greedy), timed as a whole.
// Prefill logits are not computed unless --prefill-logits (a generator needs only the last row).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "fmt/core.h"
#include "tools/common/model_io.h"
#include "lib/runner/runner.h"
#include "lib/support/parallel.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc {
namespace {

struct Options {
  std::string model;
  int64_t prefill = 512, reps = 3, decode = 64, decode_context = 32;
  uint64_t seed = 1234;
  int threads = 0;
  bool prefill_logits = false, json = false, llama_cpp_numerics = false;
};

struct Result {
  int64_t vocab = 0;
  double load_s = 0;
  std::vector<double> prefill_s;  // one per repetition
  double decode_s = 0;
};

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<int32_t> RandomTokens(int64_t n, int64_t vocab, std::mt19937_64& rng) {
  std::uniform_int_distribution<int32_t> dist(0, static_cast<int32_t>(vocab - 1));
  std::vector<int32_t> tokens(static_cast<size_t>(n));
  for (int32_t& t : tokens) t = dist(rng);
  return tokens;
}

absl::StatusOr<Result> Run(const Options& o) {
  Result r;
  auto t0 = std::chrono::steady_clock::now();
  QC_ASSIGN_OR_RETURN(Model model, tools::ReadModel(o.model));
  QC_ASSIGN_OR_RETURN(std::unique_ptr<runner::Runner> run, runner::Runner::Create(model, {.llama_cpp_activations = o.llama_cpp_numerics}));
  r.load_s = Seconds(t0);
  r.vocab = run->spec().vocab_size;
  std::mt19937_64 rng(o.seed);

  const std::vector<int32_t> prompt = RandomTokens(o.prefill, r.vocab, rng);
  std::vector<float> logits(o.prefill_logits ? static_cast<size_t>(o.prefill * r.vocab) : 0);
  for (int64_t rep = 0; rep < o.reps; ++rep) {
    auto cache = run->NewCache();
    t0 = std::chrono::steady_clock::now();
    QC_RETURN_IF_ERROR(run->Forward(prompt, *cache, logits));
    r.prefill_s.push_back(Seconds(t0));
  }

  if (o.decode > 0) {
    auto cache = run->NewCache();
    const std::vector<int32_t> context = RandomTokens(o.decode_context, r.vocab, rng);
    QC_RETURN_IF_ERROR(run->Forward(context, *cache, {}));
    std::vector<float> step_logits(static_cast<size_t>(r.vocab));
    int32_t token = context.empty() ? 0 : context.back();
    t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < o.decode; ++i) {
      QC_RETURN_IF_ERROR(run->Forward(std::span(&token, 1), *cache, step_logits));
      token = static_cast<int32_t>(std::max_element(step_logits.begin(), step_logits.end()) - step_logits.begin());
    }
    r.decode_s = Seconds(t0);
  }
  return r;
}

void Print(const Options& o, const Result& r) {
  std::vector<double> sorted = r.prefill_s;
  std::sort(sorted.begin(), sorted.end());
  const double best_s = sorted.empty() ? 0 : sorted.front();
  const double median_s = sorted.empty() ? 0 : (sorted[(sorted.size() - 1) / 2] + sorted[sorted.size() / 2]) / 2;
  auto rate = [](int64_t tokens, double s) { return s > 0 ? static_cast<double>(tokens) / s : 0.0; };
  const int threads = NumThreads();
  if (o.json) {
    std::string reps;
    for (double s : r.prefill_s) reps += fmt::format("{}{:.4f}", reps.empty() ? "" : ", ", s);
    fmt::print(
        "{{\"model\": \"{}\", \"threads\": {}, \"load_s\": {:.3f}, \"prefill_tokens\": {}, \"prefill_logits\": {}, "
        "\"prefill_reps_s\": [{}], \"prefill_best_tok_s\": {:.2f}, \"prefill_median_tok_s\": {:.2f}, "
        "\"decode_context\": {}, \"decode_tokens\": {}, \"decode_s\": {:.4f}, \"decode_tok_s\": {:.2f}}}\n",
        o.model, threads, r.load_s, o.prefill, o.prefill_logits, reps, rate(o.prefill, best_s),
        rate(o.prefill, median_s), o.decode_context, o.decode, r.decode_s, rate(o.decode, r.decode_s));
    return;
  }
  fmt::print(
      "{}: prefill {} tok: best {:.2f} tok/s, median {:.2f} tok/s ({} reps{}) | decode {} tok after {}: {:.2f} tok/s "
      "({:.1f} ms/tok) | threads {} | load {:.2f} s\n",
      o.model, o.prefill, rate(o.prefill, best_s), rate(o.prefill, median_s), o.reps,
      o.prefill_logits ? ", with logits" : "", o.decode, o.decode_context, rate(o.decode, r.decode_s),
      o.decode > 0 ? 1000 * r.decode_s / static_cast<double>(o.decode) : 0.0, threads, r.load_s);
}

}  // namespace
}  // namespace quantc

int main(int argc, char** argv) {
  quantc::Options o;
  CLI::App app{"Prefill and decode tokens/s of the CPU reference runner"};
  app.add_option("model", o.model, "model folder (Hugging Face layout) or .gguf file")->required();
  app.add_option("-p,--prefill", o.prefill, "prefill prompt length P")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("-r,--reps", o.reps, "prefill repetitions R")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("-n,--decode", o.decode, "decode steps N (0: skip)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--decode-context", o.decode_context, "prompt tokens before decoding")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--seed", o.seed, "token id seed")->capture_default_str();
  app.add_option("-j,--threads", o.threads, "worker threads (default: all cores)")->check(CLI::NonNegativeNumber);
  app.add_flag("--prefill-logits", o.prefill_logits, "compute logits for every prompt token");
  app.add_flag("--llama-cpp-numerics", o.llama_cpp_numerics,
               "multiply as llama.cpp's CPU backend does (activations rounded to each weight type's "
               "vec_dot_type; integer dot products for block types)");
  app.add_flag("--json", o.json, "print one JSON object instead of a line of text");
  CLI11_PARSE(app, argc, argv);
  quantc::SetNumThreads(o.threads);

  absl::StatusOr<quantc::Result> r = quantc::Run(o);
  if (!r.ok()) {
    fmt::print(stderr, "bench_runner: error: {}\n", std::string(r.status().message()));
    return 1;
  }
  quantc::Print(o, *r);
  return 0;
}
