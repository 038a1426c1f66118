#include "tools/quantc/validate_candidates.h"

#include <algorithm>
#include <cstdlib>
#include <regex>
#include <system_error>

#include "formats/mp/reader.h"
#include "formats/mp/writer.h"
#include "formats/safetensors/reader.h"
#include "lib/arch/adapter.h"
#include "lib/arch/gguf_layout.h"
#include "lib/support/file_util.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "passes/rotate.h"
#include "tools/common/model_io.h"
#include "tools/quantc/gpu_target.h"

namespace quantc::tools {
namespace {
namespace fs = std::filesystem;
using RowPtr = std::unique_ptr<ValidationRow>;

bool Wants(const CandidateContext& ctx, std::string_view target) {
  return ctx.targets.empty() || std::find(ctx.targets.begin(), ctx.targets.end(), target) != ctx.targets.end();
}

// Total size of the files in `folder` whose names satisfy `keep`.
uint64_t FolderBytes(const fs::path& folder, const std::function<bool(const std::string&)>& keep) {
  uint64_t bytes = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(folder, ec)) {
    if (e.is_regular_file() && keep(e.path().filename().string())) bytes += e.file_size();
  }
  return bytes;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The pipeline text a quantc output records: GGUF's quantc.pipeline key, or the safetensors
// shards' __metadata__ entry.
std::string RecordedPipeline(const fs::path& path, const Model& model) {
  if (const MetaValue* v = model.metadata.Find("quantc.pipeline")) return v->Get<std::string>().value_or("");
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return "";
  for (const auto& e : fs::directory_iterator(path, ec)) {
    if (e.path().extension() != ".safetensors") continue;
    absl::StatusOr<formats::safetensors::SafetensorsFile> file = formats::safetensors::ReadSafetensorsFile(e.path());
    if (!file.ok()) return "";
    auto it = file->metadata.find("quantc.pipeline");
    return it == file->metadata.end() ? "" : it->second;
  }
  return "";
}

// How the reference's hidden states map into the basis of a candidate made by `pipeline`.
absl::StatusOr<HiddenBasis> BasisFor(const fs::path& path, const std::string& pipeline, const Model& ref, int64_t hidden,
                                     int64_t states) {
  absl::StatusOr<std::vector<passes::RotateOptions>> rotations = passes::RecordedRotations(pipeline);
  if (!rotations.ok()) {
    return absl::InvalidArgumentError(StrCat(path.string(), ": recorded pipeline '", pipeline, "': ", rotations.status().message()));
  }
  std::vector<passes::ResidualTransform> transforms;
  for (const passes::RotateOptions& r : *rotations) {
    QC_ASSIGN_OR_RETURN(passes::ResidualTransform m, passes::ResidualRotation(hidden, r));
    transforms.push_back(std::move(m));
  }
  // fuse-norms moved the final norm's scale into lm_head: the candidate's last state lacks it.
  std::vector<float> inverse_scale;
  if (pipeline.find("fuse-norms") != std::string::npos) {
    QC_ASSIGN_OR_RETURN(const arch::ArchAdapter* adapter, arch::AdapterForModel(ref));
    const std::string name = adapter->TensorName({arch::Role::kFinalNorm});
    const TensorEntry* norm = ref.tensors.Find(name);
    if (norm == nullptr) return absl::NotFoundError(StrCat("reference: no final norm tensor '", name, "'"));
    QC_ASSIGN_OR_RETURN(inverse_scale, ReadAllAsF32(*norm->source, norm->info));
    for (float& g : inverse_scale) g = g != 0 ? 1 / g : 0;
  }
  if (transforms.empty() && inverse_scale.empty()) return HiddenBasis();
  return [transforms, inverse_scale, hidden, states](int64_t index, std::span<float> x) {
    const int64_t rows = static_cast<int64_t>(x.size()) / hidden;
    if (index == states - 1 && !inverse_scale.empty()) {
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t d = 0; d < hidden; ++d) x[r * hidden + d] *= inverse_scale[d];
      }
    }
    for (const auto& m : transforms) m(x.data(), rows);
  };
}

// A row the reference runner's kind executes: an HF folder or a GGUF file.
absl::StatusOr<RowPtr> RunnerRow(const fs::path& path, std::string kind, const CandidateContext& ctx) {
  auto row = std::make_unique<ValidationRow>();
  row->kind = std::move(kind);
  row->target = "cpu";
  row->engine = "quantc runner";
  QC_ASSIGN_OR_RETURN(row->loaded, LoadModel(path, /*with_tokenizer=*/false));
  row->runner = row->loaded.runner.get();
  row->model = runner::AsWindowModel(*row->runner);
  row->pipeline = RecordedPipeline(path, *row->loaded.model);
  if (ctx.ref != nullptr) {
    const arch::ModelSpec& spec = row->runner->spec();
    QC_ASSIGN_OR_RETURN(row->basis, BasisFor(path, row->pipeline, *ctx.ref, spec.hidden_size, spec.num_layers + 1));
  }
  if (row->kind == "gguf") {
    row->bytes = fs::file_size(path);
    // A split set: every shard "<stem>-0000N-of-0000M.gguf" beside the first.
    static const std::regex kShard(R"((.*)-(\d{5})-of-(\d{5})\.gguf)");
    std::smatch m;
    const std::string name = path.filename().string();
    if (std::regex_match(name, m, kShard)) {
      const std::string prefix = m[1].str(), count = m[3].str();
      row->bytes = FolderBytes(path.parent_path().empty() ? "." : path.parent_path(), [&](const std::string& f) {
        std::smatch s;
        return std::regex_match(f, s, kShard) && s[1].str() == prefix && s[3].str() == count;
      });
    }
  } else {
    row->bytes = FolderBytes(path, [](const std::string& f) { return EndsWith(f, ".safetensors"); });
  }
  return row;
}

// The same candidate on the CUDA device (`--targets gpu`, only when asked for): logits, no hidden
// states yet.
absl::StatusOr<RowPtr> GpuRow(const fs::path& path, std::string kind, const CandidateContext& ctx) {
  QC_ASSIGN_OR_RETURN(RowPtr row, RunnerRow(path, std::move(kind), ctx));
  QC_ASSIGN_OR_RETURN(GpuTarget gpu, MakeGpuTarget(*row->loaded.model));
  row->target = "gpu";
  row->engine = "quantc runner (CUDA)";
  row->model = gpu.model;
  row->gpu = std::move(gpu.runner);
  row->runner = nullptr;
  return row;
}

bool AskedFor(const CandidateContext& ctx, std::string_view target) {
  return std::find(ctx.targets.begin(), ctx.targets.end(), target) != ctx.targets.end();
}

// The runner's rows of an HF folder or GGUF file: cpu (unless --targets leaves it out), and gpu
// when --targets names it.
absl::Status AddRunnerRows(const fs::path& path, const std::string& kind, const CandidateContext& ctx,
                           std::vector<RowPtr>& rows) {
  if (Wants(ctx, "cpu")) {
    QC_ASSIGN_OR_RETURN(RowPtr row, RunnerRow(path, kind, ctx));
    rows.push_back(std::move(row));
  }
  if (AskedFor(ctx, "gpu")) {
    QC_ASSIGN_OR_RETURN(RowPtr row, GpuRow(path, kind, ctx));
    rows.push_back(std::move(row));
  }
  return absl::OkStatus();
}

// N when `folder` holds model0-mp{N}.safetensors, else 0.
int64_t MpRanks(const fs::path& folder) {
  static const std::regex kRank(R"(model0-mp(\d+)\.safetensors)");
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(folder, ec)) {
    std::smatch m;
    const std::string f = e.path().filename().string();
    if (std::regex_match(f, m, kRank)) return std::stoll(m[1].str());
  }
  return 0;
}

absl::StatusOr<RowPtr> MpRow(const fs::path& folder, const CandidateContext& ctx, int64_t ranks) {
  auto row = std::make_unique<ValidationRow>();
  row->kind = "mp";
  row->target = "cpu";
  row->engine = StrCat("quantc tensor-parallel simulator (", ranks, " ranks)");
  nlohmann::ordered_json config;
  std::error_code ec;
  if (fs::exists(folder / "config.json", ec)) {  // unusual, but a folder may carry one
    QC_ASSIGN_OR_RETURN(std::string text, ReadFileToString(folder / "config.json"));
    config = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!config.is_object()) return absl::InvalidArgumentError(StrCat((folder / "config.json").string(), ": not a JSON object"));
  } else if (ctx.ref != nullptr && ctx.ref->layout == "hf") {
    config = ctx.ref->config;
  } else {
    return absl::InvalidArgumentError(StrCat(folder.string(), ": mp shards carry no config.json; the reference must be "
                                             "the Hugging Face folder they were made from"));
  }
  for (int64_t r = 0; r < ranks; ++r) {
    QC_ASSIGN_OR_RETURN(Model m, formats::mp::ReadMpRank(folder, r, ranks, config));
    row->ranks.push_back(std::move(m));
  }
  QC_ASSIGN_OR_RETURN(row->tp, runner::TensorParallelRunner::Create(row->ranks));
  runner::TensorParallelRunner* tp = row->tp.get();
  row->model = {tp->vocab_size(), [tp](std::span<const int32_t> window, std::span<float> logits) {
                  auto caches = tp->NewCaches();
                  return tp->Forward(window, caches, logits);
                }};
  row->bytes = FolderBytes(folder, [](const std::string& f) { return EndsWith(f, ".safetensors"); });
  return row;
}

// A node process serving windows (tools/validators/window_logits.mjs).
absl::StatusOr<runner::WindowModel> StartDriver(ValidationRow& row, const std::string& kind, const fs::path& path) {
  const fs::path dir = ValidatorsDir();
  std::error_code ec;
  if (!fs::exists(dir / "window_logits.mjs", ec) || !fs::exists(dir / "node_modules" / "onnxruntime-node", ec)) {
    return absl::FailedPreconditionError(
        StrCat(path.string(), ": ONNX candidates run in onnxruntime-node, not installed in ", dir.string(),
               " (cd tools/validators && ONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=optional; or set QUANTC_VALIDATORS_DIR)"));
  }
  QC_ASSIGN_OR_RETURN(row.driver, Subprocess::Start({"node", (dir / "window_logits.mjs").string(), kind, path.string()}));
  int32_t vocab = 0;
  absl::Status read = row.driver->Read(&vocab, sizeof vocab);
  if (!read.ok()) return absl::Status(read.code(), StrCat(path.string(), ": ", read.message()));
  Subprocess* driver = row.driver.get();
  const std::string where = path.string();
  return runner::WindowModel{vocab, [driver, vocab, where](std::span<const int32_t> window, std::span<float> logits) -> absl::Status {
    const int32_t n = static_cast<int32_t>(window.size());
    absl::Status s = driver->Write(&n, sizeof n);
    if (s.ok()) s = driver->Write(window.data(), window.size_bytes());
    if (s.ok()) s = driver->Read(logits.data(), static_cast<size_t>(n) * vocab * sizeof(float));
    if (!s.ok()) return absl::Status(s.code(), StrCat(where, ": ", s.message()));
    return absl::OkStatus();
  }};
}

absl::StatusOr<RowPtr> OnnxDecoderRow(const fs::path& file) {
  auto row = std::make_unique<ValidationRow>();
  row->kind = "onnx";
  row->target = "cpu";
  row->engine = "onnxruntime-node (CPU EP)";
  const std::string name = file.filename().string();
  // The graph and its external data files ("model_q4.onnx_data", "model_q4.onnx_data_1", ...).
  row->bytes = FolderBytes(file.parent_path(), [&](const std::string& f) { return f == name || f.rfind(name + "_data", 0) == 0; });
  QC_ASSIGN_OR_RETURN(row->model, StartDriver(*row, "decoder", file));
  return row;
}

}  // namespace

fs::path ValidatorsDir() {
  if (const char* dir = std::getenv("QUANTC_VALIDATORS_DIR"); dir != nullptr && *dir != '\0') return dir;
  return fs::path(QUANTC_SOURCE_DIR) / "tools" / "validators";
}

absl::StatusOr<std::vector<RowPtr>> OpenCandidate(const fs::path& path, const CandidateContext& ctx, const std::string& label) {
  std::vector<RowPtr> rows;
  std::error_code ec;
  if (!fs::exists(path, ec)) return absl::NotFoundError(StrCat(path.string(), ": no such file or folder"));
  const std::string name = path.filename().string();
  std::string supported;  // the targets this kind runs on, for the message when none was asked for
  if (fs::is_regular_file(path, ec) && path.extension() == ".onnx") {
    supported = "cpu";
    if (Wants(ctx, "cpu")) {
      QC_ASSIGN_OR_RETURN(RowPtr row, OnnxDecoderRow(path));
      rows.push_back(std::move(row));
    }
  } else if (fs::is_regular_file(path, ec)) {
    supported = "cpu, gpu";
    QC_RETURN_IF_ERROR(AddRunnerRows(path, "gguf", ctx, rows));
  } else if (fs::exists(path / "context.onnx", ec)) {
    supported = "npu";
    if (Wants(ctx, "npu")) {
      auto emulation = std::make_unique<ValidationRow>();
      emulation->kind = "onnx-qdq";
      emulation->target = "npu";
      emulation->engine = "quantc NPU emulation";
      emulation->variant = "emulation";
      QC_ASSIGN_OR_RETURN(emulation->npu, LoadNpuPipeline(path));
      runner::NpuPipeline* p = emulation->npu.pipeline.get();
      emulation->model = {p->vocab(), [p](std::span<const int32_t> w, std::span<float> l) { return p->Forward(w, l); }};
      auto ort = std::make_unique<ValidationRow>();
      ort->kind = "onnx-qdq";
      ort->target = "npu";
      ort->engine = "onnxruntime-node (QDQ on the CPU EP)";
      ort->variant = "onnxruntime";
      QC_ASSIGN_OR_RETURN(ort->model, StartDriver(*ort, "npu", path));
      emulation->bytes = ort->bytes = FolderBytes(path, [](const std::string& f) { return f.find(".onnx") != std::string::npos; });
      rows.push_back(std::move(emulation));
      rows.push_back(std::move(ort));
    }
  } else if (fs::is_directory(path / "onnx", ec)) {
    supported = "cpu";
    if (Wants(ctx, "cpu")) {
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(path / "onnx")) {
        if (e.path().extension() == ".onnx") files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());
      if (files.empty()) return absl::InvalidArgumentError(StrCat((path / "onnx").string(), ": no .onnx models"));
      for (const fs::path& f : files) {
        std::string dtype = f.stem().string() == "model" ? "fp32" : f.stem().string().substr(6);  // model_q4 -> q4
        QC_ASSIGN_OR_RETURN(RowPtr row, OnnxDecoderRow(f));
        row->variant = dtype;
        rows.push_back(std::move(row));
      }
    }
  } else if (const int64_t ranks = MpRanks(path); ranks > 0) {
    supported = "cpu";
    if (Wants(ctx, "cpu")) {
      QC_ASSIGN_OR_RETURN(RowPtr row, MpRow(path, ctx, ranks));
      rows.push_back(std::move(row));
    }
  } else {
    supported = "cpu, gpu";
    QC_RETURN_IF_ERROR(AddRunnerRows(path, "hf", ctx, rows));
  }
  if (rows.empty()) {
    return absl::InvalidArgumentError(StrCat(path.string(), ": runs on ", supported, ", not on the --targets given (",
                                             StrJoin(ctx.targets, ","), ")"));
  }
  const std::string base = !label.empty() ? label : !name.empty() ? name : path.parent_path().filename().string();
  for (RowPtr& row : rows) {
    row->path = path.string();
    // A variant names the row when the candidate has several, or when no label was given.
    const bool named = !row->variant.empty() && (rows.size() > 1 || label.empty());
    row->label = named ? StrCat(base, " [", row->variant, "]") : base;
  }
  return rows;
}

}  // namespace quantc::tools
