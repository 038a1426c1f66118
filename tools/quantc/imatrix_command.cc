// `quantc imatrix MODEL --text FILE -o imatrix.gguf [--chunk-size 512] [--chunks N]`: runs the
// reference runner over a calibration text and records, for every weight matmul, the sum of the
// squared inputs per column and how many rows were summed, per expert for stacked experts: what
// llama.cpp's llama-imatrix collects (tools/imatrix/imatrix.cpp at 81ff7abe), written in its GGUF
// format so llama-quantize and `quantc convert --imatrix` both read it. Names are GGUF names, so a
// Hugging Face checkpoint is put in GGUF layout (in memory) first. Like llama-imatrix's default,
// the output projection and the embedding are not collected; neither are DeepSeek's attn_k_b /
// attn_v_b, which the runner folds into its absorbed attention instead of multiplying.
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "fmt/core.h"
#include "formats/gguf/imatrix.h"
#include "lib/pass/pass_manager.h"
#include "lib/runner/runner.h"
#include "lib/support/output_dir.h"
#include "lib/support/progress.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "passes/registry.h"
#include "passes/gguf_layout.h"
#include "tools/quantc/commands.h"
#include "tools/quantc/loaded_model.h"

namespace quantc::tools {
namespace {
namespace fs = std::filesystem;

struct ImatrixOptions {
  std::string model, text, tokenizer, output;
  int64_t chunk_size = 512, chunks = 0;
  bool force = false;
};

// Sums of x^2 in double while collecting (millions of small terms), stored as F32 like llama-imatrix.
struct Accumulator {
  int64_t n_per_row = 0, n_mat = 1;
  std::vector<double> sums;
  std::vector<double> counts;
};

absl::Status RunImatrix(const ImatrixOptions& o, const GlobalOptions& global) {
  if (o.chunk_size <= 0) return absl::InvalidArgumentError("--chunk-size must be positive");
  QC_ASSIGN_OR_RETURN(auto out, AtomicOutput::Begin(o.output, AtomicOutput::Kind::kFile, o.force));
  QC_ASSIGN_OR_RETURN(Model model, ReadModel(o.model));
  const fs::path tokenizer_dir = !o.tokenizer.empty() ? fs::path(o.tokenizer)
                                 : fs::is_directory(o.model) ? fs::path(o.model) : fs::path(o.model).parent_path();
  if (model.layout == "hf") {
    PassManager pm;
    for (auto& p : passes::DequantPassesFor(model)) pm.Add(std::move(p));
    pm.Add(passes::CreateGgufLayoutPass());
    QC_RETURN_IF_ERROR(pm.Run(model));
  }
  // Experts per stacked tensor, for the per-expert rows of its statistics.
  std::map<std::string, int64_t> mats;
  for (const TensorEntry& e : model.tensors.entries()) mats[e.name] = e.info.shape.size() == 3 ? e.info.shape[0] : 1;

  std::mutex mu;
  std::map<std::string, Accumulator> acc;
  runner::RunnerOptions ro;
  ro.matmul_observer = [&](const std::string& name, int64_t expert, const float* x, int64_t n, int64_t cols) {
    std::lock_guard<std::mutex> lock(mu);
    Accumulator& a = acc[name];
    if (a.sums.empty()) {
      a.n_per_row = cols;
      a.n_mat = expert >= 0 ? mats[name] : 1;
      a.sums.assign(static_cast<size_t>(a.n_mat * cols), 0.0);
      a.counts.assign(static_cast<size_t>(a.n_mat), 0.0);
    }
    const int64_t mat = expert >= 0 ? expert : 0;
    double* sums = a.sums.data() + mat * cols;
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t c = 0; c < cols; ++c) sums[c] += static_cast<double>(x[t * cols + c]) * x[t * cols + c];
    }
    a.counts[mat] += static_cast<double>(n);
  };
  QC_ASSIGN_OR_RETURN(std::unique_ptr<runner::Runner> runner, runner::Runner::Create(model, std::move(ro)));
  QC_ASSIGN_OR_RETURN(std::unique_ptr<tokenizer::Tokenizer> tok,
                      tokenizer::Tokenizer::FromFile(tokenizer_dir / "tokenizer.json"));
  QC_ASSIGN_OR_RETURN(std::vector<int32_t> ids, TokenizeFile(*tok, o.text));
  int64_t n_chunks = static_cast<int64_t>(ids.size()) / o.chunk_size;
  if (o.chunks > 0) n_chunks = std::min(n_chunks, o.chunks);
  if (n_chunks == 0) {
    return absl::InvalidArgumentError(StrCat(o.text, ": ", ids.size(), " tokens, fewer than one chunk of ", o.chunk_size));
  }
  auto start = std::chrono::steady_clock::now();
  {
    Progress progress("imatrix", static_cast<uint64_t>(n_chunks * o.chunk_size), static_cast<uint64_t>(n_chunks),
                      !global.quiet && Progress::StderrIsTerminal(), "tokens", "chunks");
    for (int64_t c = 0; c < n_chunks; ++c) {
      auto cache = runner->NewCache();
      QC_RETURN_IF_ERROR(runner->Forward(std::span(ids).subspan(c * o.chunk_size, o.chunk_size), *cache, {}));
      progress.Advance(static_cast<uint64_t>(o.chunk_size), 1);
    }
  }
  ImportanceMatrix im;
  im.datasets = {fs::path(o.text).filename().string()};
  im.chunk_count = n_chunks;
  im.chunk_size = o.chunk_size;
  for (auto& [name, a] : acc) {
    ImportanceEntry e;
    e.n_per_row = a.n_per_row;
    e.n_mat = a.n_mat;
    e.in_sum2.assign(a.sums.begin(), a.sums.end());
    e.counts.assign(a.counts.begin(), a.counts.end());
    im.entries.emplace(name, std::move(e));
  }
  QC_RETURN_IF_ERROR(formats::gguf::WriteImatrix(im, out->staging()));
  QC_RETURN_IF_ERROR(out->Commit());
  if (!global.quiet) {
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print("imatrix: {} weights from {} chunks of {} tokens of {} ({:.1f} s) -> {}\n", im.entries.size(), n_chunks,
               o.chunk_size, o.text, secs, o.output);
  }
  return absl::OkStatus();
}

}  // namespace

CommandRunner AddImatrixCommand(CLI::App& app, const GlobalOptions& global) {
  auto o = std::make_shared<ImatrixOptions>();
  app.add_option("model", o->model, "checkpoint folder or .gguf file")->required();
  app.add_option("--text", o->text, "calibration text (never the text you evaluate on)")->required();
  app.add_option("-o,--output", o->output, "imatrix GGUF to write (llama.cpp's format)")->required();
  app.add_option("--tokenizer", o->tokenizer, "folder with tokenizer.json (default: the model's folder)");
  app.add_option("--chunk-size", o->chunk_size, "tokens per chunk (each chunk starts a fresh context)")->capture_default_str();
  app.add_option("--chunks", o->chunks, "chunks to evaluate (default: all whole chunks of the text)");
  app.add_flag("-f,--force", o->force, "replace an existing output");
  return [o, &global] { return RunImatrix(*o, global); };
}

}  // namespace quantc::tools
