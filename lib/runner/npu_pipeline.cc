#include "lib/runner/npu_pipeline.h"

#include <algorithm>

#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::runner {

void SetNpuStepInputs(std::map<std::string, GraphTensor>& feeds, int64_t past, int64_t s, int64_t position) {
  feeds["past_seq_len"] = GraphTensor::Int(DType::kI32, {1, 1}, {past + s - 1});  // valid rows - 1
  feeds["total_seq_len"] = GraphTensor::Int(DType::kI32, {}, {past + s});
  std::vector<int64_t> positions(s);
  for (int64_t j = 0; j < s; ++j) positions[j] = position + j;
  feeds["position_ids"] = GraphTensor::Int(DType::kI64, {1, s}, std::move(positions));
}

void CarryPresents(std::map<std::string, GraphTensor>& outputs, std::map<std::string, GraphTensor>& cache) {
  constexpr std::string_view kPast = "past_key_values.";
  for (auto& [name, t] : cache) t = std::move(outputs[StrCat("present.", std::string_view(name).substr(kPast.size()))]);
}

absl::StatusOr<std::unique_ptr<NpuPipeline>> NpuPipeline::Create(const Model& model) {
  const Graph* graphs[4] = {nullptr, nullptr, nullptr, nullptr};
  const char* names[4] = {"embeddings", "context", "iterator", "lm_head"};
  for (const Graph& g : model.graphs) {
    for (int i = 0; i < 4; ++i) {
      if (g.name == names[i]) graphs[i] = &g;
    }
  }
  for (int i = 0; i < 4; ++i) {
    if (graphs[i] == nullptr) return absl::NotFoundError(StrCat("the NPU pipeline has no ", names[i], " model"));
  }
  return std::unique_ptr<NpuPipeline>(new NpuPipeline(model, graphs));
}

NpuPipeline::NpuPipeline(const Model& model, const Graph* graphs[4])
    : model_(model),
      embeddings_(model, *graphs[0]),
      context_(model, *graphs[1]),
      iterator_(model, *graphs[2]),
      lm_head_(model, *graphs[3]),
      context_graph_(*graphs[1]) {
  vocab_ = graphs[3]->outputs[0].dims[2].value;
  chunk_ = context_graph_.inputs[0].dims[1].value;
  cache_ = context_graph_.inputs[1].dims[2].value;
}

std::map<std::string, GraphTensor> NpuPipeline::EmptyCache() const {
  std::map<std::string, GraphTensor> cache;
  for (const GraphValue& v : context_graph_.inputs) {
    if (!v.name.starts_with("past_key_values.")) continue;
    Shape shape;
    for (const GraphDim& d : v.dims) shape.push_back(d.value);
    GraphTensor t = GraphTensor::Int(v.dtype, shape, {});
    t.i.assign(t.size(), 0);
    cache[v.name] = std::move(t);
  }
  return cache;
}

absl::StatusOr<std::vector<float>> NpuPipeline::Step(GraphEvaluator& body, int64_t s, std::span<const int32_t> tokens, int64_t& past,
                                                     int64_t position, std::map<std::string, GraphTensor>& cache) {
  if (past + s > cache_) {  // slide: drop the oldest rows so that this call fits
    const int64_t shift = past + s - cache_;
    for (auto& [name, t] : cache) {
      const int64_t rows = t.shape[2], width = t.shape[3], heads = t.shape[0] * t.shape[1];
      for (int64_t h = 0; h < heads; ++h) {
        int64_t* base = &t.i[h * rows * width];
        std::copy(base + shift * width, base + past * width, base);
      }
    }
    past -= shift;
  }
  std::vector<int64_t> ids(s, 0);  // right padding with token 0
  std::copy(tokens.begin(), tokens.end(), ids.begin());
  QC_ASSIGN_OR_RETURN(auto embedded, embeddings_.Run({{"input_ids", GraphTensor::Int(DType::kI64, {1, s}, ids)}}));
  // The cache moves into the call; CarryPresents refills it from the outputs.
  std::map<std::string, GraphTensor> feeds;
  for (auto& [name, t] : cache) feeds[name] = std::move(t);
  feeds["inputs_embeds"] = std::move(embedded["inputs_embeds"]);
  SetNpuStepInputs(feeds, past, s, position);
  QC_ASSIGN_OR_RETURN(auto out, body.Run(std::move(feeds)));
  CarryPresents(out, cache);
  QC_ASSIGN_OR_RETURN(auto logits, lm_head_.Run({{"hidden_states", std::move(out["hidden_states"])}}));
  past += static_cast<int64_t>(tokens.size());  // padding rows are overwritten by the next call
  std::vector<float> valid = std::move(logits["logits"].f);
  valid.resize(tokens.size() * vocab_);
  return valid;
}

absl::Status NpuPipeline::Forward(std::span<const int32_t> tokens, std::span<float> logits) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  auto cache = EmptyCache();
  int64_t past = 0;
  for (int64_t at = 0; at < n; at += chunk_) {
    const int64_t len = std::min(chunk_, n - at);
    QC_ASSIGN_OR_RETURN(auto part, Step(context_, chunk_, tokens.subspan(at, len), past, at, cache));
    std::copy(part.begin(), part.end(), logits.begin() + at * vocab_);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> NpuPipeline::Generate(std::span<const int32_t> prompt, int64_t n) {
  const int64_t p = static_cast<int64_t>(prompt.size());
  if (p == 0) return absl::InvalidArgumentError("an empty prompt");
  auto cache = EmptyCache();
  std::vector<float> last;
  int64_t past = 0;
  for (int64_t at = 0; at < p; at += chunk_) {
    const int64_t len = std::min(chunk_, p - at);
    QC_ASSIGN_OR_RETURN(last, Step(context_, chunk_, prompt.subspan(at, len), past, at, cache));
  }
  // Padding of the last chunk wrote rows past the prompt; the iterator overwrites them in order.
  std::vector<int32_t> out;
  auto argmax = [&](std::span<const float> row) {
    return static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
  };
  int32_t next = argmax(std::span<const float>(last).subspan(last.size() - vocab_, vocab_));
  for (int64_t i = 0; i < n; ++i) {
    out.push_back(next);
    if (i + 1 == n) break;
    const int32_t token = next;
    QC_ASSIGN_OR_RETURN(auto logits, Step(iterator_, 1, std::span<const int32_t>(&token, 1), past, p + i, cache));
    next = argmax(logits);
  }
  return out;
}

}  // namespace quantc::runner
