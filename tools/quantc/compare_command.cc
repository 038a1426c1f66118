// `quantc compare A B --text FILE [--ctx 512] [--max-tokens 2048] [--json]`: where a model departs
// from another, layer by layer. Both run the same windows of the text; for every hidden state
// (0 = embeddings, i = input of layer i, L = after the final norm) it reports the SNR of B
// against A in dB, 10 log10(sum a^2 / sum (a - b)^2), and the mean per-token cosine similarity.
#include <cmath>
#include <memory>
#include <string>

#include "fmt/core.h"
#include "lib/runner/eval.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "nlohmann/json.hpp"
#include "tools/quantc/commands.h"
#include "tools/quantc/loaded_model.h"

namespace quantc::tools {
namespace {

struct CompareOptions {
  std::string tokenizer, a, b, text;
  int64_t ctx = 512, max_tokens = 2048;
  bool json = false;
};

absl::Status RunCompare(const CompareOptions& o) {
  QC_ASSIGN_OR_RETURN(LoadedModel a, LoadModel(o.a, /*with_tokenizer=*/true, o.tokenizer));
  QC_ASSIGN_OR_RETURN(LoadedModel b, LoadModel(o.b, /*with_tokenizer=*/false));
  const auto& sa = a.runner->spec();
  const auto& sb = b.runner->spec();
  if (sa.hidden_size != sb.hidden_size || sa.num_layers != sb.num_layers) {
    return absl::InvalidArgumentError(StrCat(o.b, ": hidden size/layers ", sb.hidden_size, "/", sb.num_layers,
                                             " differ from ", o.a, "'s ", sa.hidden_size, "/", sa.num_layers));
  }
  QC_ASSIGN_OR_RETURN(std::vector<int32_t> ids, TokenizeFile(*a.tokenizer, o.text));
  ids.resize(std::min<size_t>(ids.size(), static_cast<size_t>(o.max_tokens)));
  const int64_t hidden = sa.hidden_size;
  runner::HiddenStateError errors(sa.num_layers + 1, hidden);
  for (size_t start = 0; start < ids.size(); start += o.ctx) {
    std::span<const int32_t> window = std::span(ids).subspan(start, std::min<size_t>(o.ctx, ids.size() - start));
    std::vector<std::vector<float>> ha(errors.states());
    auto ca = a.runner->NewCache();
    auto cb = b.runner->NewCache();
    QC_RETURN_IF_ERROR(a.runner->Forward(window, *ca, {}, [&](int64_t i, std::span<const float> h) {
      ha[i].assign(h.begin(), h.end());
    }));
    QC_RETURN_IF_ERROR(b.runner->Forward(window, *cb, {}, [&](int64_t i, std::span<const float> h) {
      errors.Add(i, ha[i], h);
    }));
  }
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  if (!o.json) fmt::print("{:<10} {:>10} {:>10}\n", "hidden", "SNR dB", "cosine");
  for (int64_t i = 0; i < errors.states(); ++i) {
    const double snr = errors.SnrDb(i);
    const double cosine = errors.Cosine(i);
    std::string name = i == 0 ? "embed" : i == errors.states() - 1 ? "final" : StrCat("layer ", i);
    if (o.json) {
      rows.push_back({{"index", i}, {"name", name}, {"snr_db", std::isinf(snr) ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(snr)},
                      {"cosine", cosine}});
    } else {
      fmt::print("{:<10} {:>10.2f} {:>10.6f}\n", name, snr, cosine);
    }
  }
  if (o.json) fmt::print("{}\n", nlohmann::ordered_json{{"tokens", ids.size()}, {"hidden_states", rows}}.dump());
  return absl::OkStatus();
}

}  // namespace

CommandRunner AddCompareCommand(CLI::App& app, const GlobalOptions& global) {
  (void)global;
  auto o = std::make_shared<CompareOptions>();
  app.add_option("a", o->a, "reference checkpoint folder or .gguf file")->required();
  app.add_option("--tokenizer", o->tokenizer, "folder with tokenizer.json, for a .gguf model (default: next to the file)");
  app.add_option("b", o->b, "checkpoint folder to compare with it")->required();
  app.add_option("--text", o->text, "text to run")->required()->check(CLI::ExistingFile);
  app.add_option("--ctx", o->ctx, "window length")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  app.add_option("--max-tokens", o->max_tokens, "tokens of the text to use")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_flag("--json", o->json, "print one JSON object");
  return [o] { return RunCompare(*o); };
}

}  // namespace quantc::tools
