// `quantc convert IN -o OUT [--format safetensors|gguf|mp|onnx] [--type Q4_K_M|int4-g128] [--imatrix F] [--mp N]
//  [--passes PIPELINE] [--dtypes fp32,q4]`
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "lib/support/strings.h"
#include "fmt/core.h"
#include "formats/gguf/gguf_types.h"
#include "formats/gguf/imatrix.h"
#include "formats/gguf/writer.h"
#include "formats/hf/hf_folder.h"
#include "formats/mp/writer.h"
#include "lib/kernels/int_quant/int_quant.h"
#include "lib/pass/pass_manager.h"
#include "lib/pass/pipeline.h"
#include "lib/support/file_util.h"
#include "lib/support/output_dir.h"
#include "lib/support/progress.h"
#include "lib/support/status_macros.h"
#include "passes/fp4_pack.h"
#include "passes/fuse_norms.h"
#include "passes/gguf_layout.h"
#include "passes/int_quant.h"
#include "passes/onnx_npu.h"
#include "passes/quantize.h"
#include "passes/registry.h"
#include "passes/shard.h"
#include "passes/util/pack_quantized.h"
#include "tools/quantc/commands.h"
#include "tools/quantc/loaded_model.h"
#include "tools/quantc/onnx_output.h"

namespace quantc::tools {
namespace {
namespace fs = std::filesystem;

struct ConvertOptions {
  std::string input, output, format, passes, max_shard_size = "5GB", split_max_size, type, imatrix, calib;
  std::vector<std::string> overrides;
  std::vector<std::string> dtypes = {"fp32", "fp16", "q4", "q4f16"};  // --format onnx
  int64_t mp = 0, accuracy_level = 4;
  passes::OnnxNpuOptions npu;  // --format onnx-qdq
  bool passes_given = false, force = false, pure = false, leave_output = false;
};

bool EndsInGguf(const fs::path& p) { return p.extension() == ".gguf"; }

passes::QuantizeOptions QuantizeOptionsFor(const ConvertOptions& o) {
  passes::QuantizeOptions q;
  q.type = o.type;
  q.imatrix = o.imatrix;
  q.pure = o.pure;
  q.leave_output = o.leave_output;
  q.overrides = StrJoin(o.overrides, ";");
  return q;
}

// --passes as given, plus what a named pass needs before it: rotate needs the RMSNorm scales folded
// (fuse-norms), so `--passes rotate,gptq` means fuse-norms,rotate,gptq.
absl::StatusOr<std::vector<std::unique_ptr<Pass>>> ParseUserPipeline(std::string_view text,
                                                                     const PassOptionDefaults& defaults = {}) {
  QC_ASSIGN_OR_RETURN(auto pipeline, ParsePipeline(text, passes::Registry(), defaults));
  bool fused = false;
  for (auto it = pipeline.begin(); it != pipeline.end(); ++it) {
    if ((*it)->Name() == "fuse-norms") fused = true;
    if ((*it)->Name() == "rotate" && !fused) {
      it = pipeline.insert(it, passes::CreateFuseNormsPass()) + 1;
      fused = true;
    }
  }
  return pipeline;
}

using Pipeline = std::vector<std::unique_ptr<Pass>>;

// --format onnx: the float pipeline (the user's passes before the first quantizing one, or the
// FP8 cast) and the one that makes the q4 weights from its result (the user's gptq or int-quant
// onwards, else int-quant with --type, by default int4-g32: transformers.js's q4 blocks).
absl::StatusOr<std::pair<Pipeline, Pipeline>> BuildOnnxPipelines(const ConvertOptions& o, const Model& model) {
  const std::string scheme = o.type.empty() ? "int4-g32" : o.type;
  Pipeline float_part, quant_part;
  if (o.passes_given) {
    PassOptionDefaults defaults;
    defaults["gptq"] = {{"scheme", scheme}};
    if (!o.calib.empty()) defaults["gptq"].emplace_back("calib", o.calib);
    QC_ASSIGN_OR_RETURN(Pipeline all, ParseUserPipeline(o.passes, defaults));
    auto first_quant = std::find_if(all.begin(), all.end(), [](const auto& p) { return p->Name() == "gptq" || p->Name() == "int-quant"; });
    quant_part.assign(std::make_move_iterator(first_quant), std::make_move_iterator(all.end()));
    all.erase(first_quant, all.end());
    float_part = std::move(all);
  } else {
    float_part = passes::DequantPassesFor(model);
  }
  if (quant_part.empty()) quant_part.push_back(passes::CreateIntQuantPass({.scheme = scheme}));
  return std::pair{std::move(float_part), std::move(quant_part)};
}

// The pipeline the user named, or the default one for this input and format.
absl::StatusOr<std::vector<std::unique_ptr<Pass>>> BuildPipeline(const ConvertOptions& o, const Model& model) {
  if (o.format == "onnx-qdq") {
    // The float passes, the int4 per-channel codes (the user's gptq, else int-quant), the lowering.
    ConvertOptions per_channel = o;
    if (per_channel.type.empty()) per_channel.type = "int4";
    QC_ASSIGN_OR_RETURN(auto parts, BuildOnnxPipelines(per_channel, model));
    Pipeline pipeline = std::move(parts.first);
    for (auto& p : parts.second) pipeline.push_back(std::move(p));
    passes::OnnxNpuOptions npu = o.npu;
    npu.accuracy_level = o.accuracy_level;
    pipeline.push_back(passes::CreateOnnxNpuPass(npu));
    return pipeline;
  }
  if (o.format == "mp") {
    // convert.py keeps dtypes (FP8 shards stay FP8): cast only when the pipeline says so. The
    // shard pass comes last, added here unless the pipeline already has one.
    std::vector<std::unique_ptr<Pass>> pipeline;
    if (o.passes_given) {
      QC_ASSIGN_OR_RETURN(pipeline, ParseUserPipeline(o.passes));
    }
    const bool has_shard = std::any_of(pipeline.begin(), pipeline.end(), [](const auto& p) { return p->Name() == "shard"; });
    if (!has_shard) pipeline.push_back(passes::CreateShardPass({.n = o.mp}));
    return pipeline;
  }
  if (o.format == "safetensors" && !o.type.empty()) {
    // --type int4-g128: the user's pipeline (or the default one), then int-quant, last: it needs
    // the final F32/F16/BF16 weights (after fp8-to-bf16, fuse-norms, rotate ...). A gptq pass in
    // the pipeline quantizes by itself: --type (and --calib) are its defaults, and no int-quant.
    std::vector<std::unique_ptr<Pass>> pipeline;
    if (o.passes_given) {
      PassOptionDefaults defaults;
      defaults["gptq"] = {{"scheme", o.type}};
      if (!o.calib.empty()) defaults["gptq"].emplace_back("calib", o.calib);
      QC_ASSIGN_OR_RETURN(pipeline, ParseUserPipeline(o.passes, defaults));
    } else {
      pipeline = passes::DequantPassesFor(model);
    }
    auto has = [&](std::string_view name) {
      return std::any_of(pipeline.begin(), pipeline.end(), [&](const auto& p) { return p->Name() == name; });
    };
    if (has("int-quant")) {
      return absl::InvalidArgumentError("--type and an int-quant pass in --passes both quantize: give one of them");
    }
    // --type mxfp4 / nvfp4: fp4-pack with that format (its defaults: routed experts, the ceil
    // rule), unless the pipeline packs FP4 itself (fp4-pack with options, or gptq).
    if (o.type == "mxfp4" || o.type == "nvfp4") {
      if (!has("gptq") && !has("fp4-pack")) pipeline.push_back(passes::CreateFp4PackPass({.format = o.type}));
      return pipeline;
    }
    if (!has("gptq")) pipeline.push_back(passes::CreateIntQuantPass({.scheme = o.type}));
    return pipeline;
  }
  if (o.passes_given) {
    // --type, --override, --pure and --calib are the defaults of a gptq or allocate pass the pipeline
    // names (its own options win).
    PassOptionDefaults defaults;
    if (o.format == "gguf" && !o.type.empty()) {
      for (const char* name : {"gptq", "allocate"}) {
        defaults[name] = {{"scheme", o.type}, {"override", StrJoin(o.overrides, ";")}, {"pure", o.pure ? "true" : "false"}};
      }
    }
    if (!o.calib.empty()) {
      for (const char* name : {"gptq", "allocate"}) defaults[name].emplace_back("calib", o.calib);
    }
    QC_ASSIGN_OR_RETURN(auto pipeline, ParseUserPipeline(o.passes, defaults));
    if (o.format != "gguf") return pipeline;
    if (o.type.empty() && std::any_of(pipeline.begin(), pipeline.end(), [](const auto& p) { return p->Name() == "allocate"; })) {
      return absl::InvalidArgumentError("--passes allocate re-places the types of a mix: give the mix with --type (Q4_K_M, ...)");
    }
    // GGUF: the layout pass goes before the first pass that works on GGUF tensors (gptq chooses
    // values on the mix's block types, fp4-pack writes ggml MXFP4), else last; quantize(--type) closes the pipeline.
    auto named = [&](std::string_view name) {
      return std::find_if(pipeline.begin(), pipeline.end(), [&](const auto& p) { return p->Name() == name; });
    };
    if (model.layout == "hf" && named("gguf-layout") == pipeline.end()) {
      auto first_gguf_pass = std::find_if(pipeline.begin(), pipeline.end(), [](const auto& p) {
        return p->Name() == "gptq" || p->Name() == "fp4-pack" || p->Name() == "allocate";
      });
      pipeline.insert(first_gguf_pass, passes::CreateGgufLayoutPass());
    }
    if (!o.type.empty() && named("quantize") == pipeline.end()) pipeline.push_back(passes::CreateQuantizePass(QuantizeOptionsFor(o)));
    return pipeline;
  }
  // Both outputs start from BF16 when the input is FP8 or FP4: engines that load safetensors want
  // BF16, and llama.cpp's own route (DeepSeek's cast, then the converter) goes through it too.
  std::vector<std::unique_ptr<Pass>> pipeline = passes::DequantPassesFor(model);
  if (o.format != "gguf") return pipeline;
  if (model.layout == "hf") pipeline.push_back(passes::CreateGgufLayoutPass());
  if (!o.type.empty()) pipeline.push_back(passes::CreateQuantizePass(QuantizeOptionsFor(o)));
  return pipeline;
}

// Writes a GGUF output: one file at the staging path, or split shards that go next to the target.
absl::Status WriteGgufOutput(const Model& model, const ConvertOptions& o, uint64_t split_max, AtomicOutput& out,
                             Progress* progress) {
  formats::gguf::GgufWriteOptions write;
  write.split_max_bytes = split_max;
  write.progress = progress;
  if (split_max == 0) return formats::gguf::WriteGguf(model, out.staging(), write);
  // Split: shards are written into the staging folder under their final names, then moved beside
  // the target name once all are complete.
  const fs::path target(o.output);
  QC_RETURN_IF_ERROR(formats::gguf::WriteGguf(model, out.staging() / target.filename(), write));
  return absl::OkStatus();
}

// Moves a complete split set (staging/<stem>-0000k-of-N.gguf) beside `target`. Loaders start at
// shard 1, so shard 1 is what makes a set look finished: a previous set's shard 1 goes first (from
// then on no mixed set can load), shard 1 of the new set comes last, and the previous set's other
// files are removed after it. A kill in between leaves shards without a shard 1, which nothing
// loads and the next --force run clears.
absl::Status MoveSplitIntoPlace(const fs::path& staging, const fs::path& target, bool force) {
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  std::vector<fs::path> shards;
  for (const auto& entry : fs::directory_iterator(staging)) shards.push_back(entry.path());
  std::sort(shards.begin(), shards.end());  // 00001 first
  if (shards.empty()) return absl::InternalError(StrCat(staging.string(), ": no shards were written"));
  const auto stem = formats::gguf::ParseSplitFileName(shards.front());
  if (!stem) return absl::InternalError(StrCat(shards.front().string(), ": not a split shard name"));
  // The previous sets of this stem (any shard count).
  std::vector<fs::path> previous;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto name = formats::gguf::ParseSplitFileName(entry.path());
    if (name && name->stem.filename() == stem->stem.filename()) previous.push_back(entry.path());
  }
  if (!previous.empty() && !force) {
    return absl::AlreadyExistsError(StrCat(previous.front().string(), ": exists (use --force to replace)"));
  }
  std::error_code ec;
  for (const fs::path& p : previous) {
    if (formats::gguf::ParseSplitFileName(p)->index_from_1 == 1 && !fs::remove(p, ec) && ec) {
      return absl::InternalError(StrCat(p.string(), ": cannot remove: ", ec.message()));
    }
  }
  for (size_t i = shards.size(); i-- > 0;) {  // shard 1 last
    fs::rename(shards[i], dir / shards[i].filename(), ec);
    if (ec) return absl::InternalError(StrCat((dir / shards[i].filename()).string(), ": ", ec.message()));
  }
  for (const fs::path& p : previous) {
    if (std::find_if(shards.begin(), shards.end(), [&](const fs::path& s) { return s.filename() == p.filename(); }) ==
        shards.end()) {
      fs::remove(p, ec);  // a stale file of a set with another shard count; best effort
    }
  }
  return absl::OkStatus();
}

absl::Status RunConvert(const ConvertOptions& o, const GlobalOptions& global) {
  auto start = std::chrono::steady_clock::now();
  QC_ASSIGN_OR_RETURN(uint64_t max_shard, ParseByteSize(o.max_shard_size));
  if (max_shard == 0) return absl::InvalidArgumentError("--max-shard-size must be positive");
  uint64_t split_max = 0;
  if (!o.split_max_size.empty()) {
    QC_ASSIGN_OR_RETURN(split_max, ParseByteSize(o.split_max_size));
    if (split_max == 0) return absl::InvalidArgumentError("--split-max-size must be positive");
  }
  const bool gguf = o.format == "gguf", mp = o.format == "mp", onnx = o.format == "onnx", qdq = o.format == "onnx-qdq";
  if (mp != (o.mp > 0)) return absl::InvalidArgumentError("--format mp and --mp N go together");
  if (!gguf && (!o.imatrix.empty() || !o.overrides.empty() || split_max != 0)) {
    return absl::InvalidArgumentError("--imatrix, --override and --split-max-size apply to --format gguf");
  }
  if (mp && !o.type.empty()) return absl::InvalidArgumentError("--type applies to --format gguf, safetensors and onnx");
  if (onnx) QC_RETURN_IF_ERROR(CheckOnnxDtypes(o.dtypes));
  if (qdq && o.calib.empty()) {
    return absl::InvalidArgumentError("--format onnx-qdq calibrates its uint16 activations: give --calib FILE (not the evaluation text)");
  }
  const bool fp4_type = o.type == "mxfp4" || o.type == "nvfp4";
  if (fp4_type && (onnx || qdq)) {
    // ONNX has FLOAT4E2M1 (opset 23), but onnxruntime 1.30's CPU provider has no DequantizeLinear
    // kernel for it and MatMulNBits takes integer codes: say so and write what runs.
    ConvertOptions fallback = o;
    fallback.type = onnx ? "int4-g32" : "int4";
    if (!global.quiet) {
      fmt::print(stderr, "note: --type {}: onnxruntime's CPU provider cannot run FP4 weights (no FLOAT4E2M1 "
                 "DequantizeLinear); writing int4 ({}) MatMulNBits weights instead\n", o.type, fallback.type);
    }
    return RunConvert(fallback, global);
  }
  if (gguf && fp4_type) {
    return absl::InvalidArgumentError(StrCat("--type ", o.type, " with --format gguf: use --type MXFP4_MOE (ggml's MXFP4 for the "
                                             "experts), with --passes fp4-pack to choose the scale rule"));
  }
  if ((o.format == "safetensors" || onnx || qdq) && !o.type.empty() && !fp4_type) {
    // Checked before any work; the int-quant pass parses it again with the same function.
    absl::StatusOr<kernels::int_quant::IntScheme> scheme = kernels::int_quant::ParseIntScheme(o.type);
    if (!scheme.ok()) {
      return absl::InvalidArgumentError(StrCat("--type: ", scheme.status().message(),
                                               "; GGUF types such as Q4_K_M need --format gguf"));
    }
  }
  if (gguf && !o.imatrix.empty() && o.type.empty()) return absl::InvalidArgumentError("--imatrix needs --type");
  std::error_code ec;
  if (fs::exists(o.output, ec) && fs::equivalent(o.input, o.output, ec)) {
    return absl::InvalidArgumentError(StrCat(o.output, ": output is the input"));
  }
  // Take the output (lock, refuse an existing one) before any work, so a doomed run fails at once.
  // GGUF: one file, or (split) a staging folder whose shards move next to the target at the end;
  // a split takes the lock of the name it was given (so a second run's error names it), but its
  // shards' names are what may already exist, checked when they move.
  QC_ASSIGN_OR_RETURN(auto out, AtomicOutput::Begin(o.output,
                                                    gguf && split_max == 0 ? AtomicOutput::Kind::kFile : AtomicOutput::Kind::kDirectory,
                                                    o.force || (gguf && split_max != 0)));
  std::optional<ImportanceMatrix> importance;
  if (!o.imatrix.empty()) {
    QC_ASSIGN_OR_RETURN(importance, formats::gguf::ReadImatrix(o.imatrix));
  }

  QC_ASSIGN_OR_RETURN(Model model, ReadModel(o.input));
  const uint64_t bytes_in = model.tensors.TotalBytes();
  const size_t tensors_in = model.tensors.size();

  // Calibration text for passes that run the model (gptq, allocate, onnx-npu), tokenized as the model tokenizes.
  std::vector<int32_t> calibration;
  if (!o.calib.empty()) {
    QC_ASSIGN_OR_RETURN(auto tok, LoadTokenizer(o.input, model, EndsInGguf(o.input), ""));
    QC_ASSIGN_OR_RETURN(calibration, TokenizeFile(*tok, o.calib));
  }

  PassManager pm, onnx_quantize;
  for (PassManager* m : {&pm, &onnx_quantize}) {
    if (importance) m->set_importance(&*importance);
    if (!o.calib.empty()) m->set_calibration(&calibration);
    m->set_show_progress(!global.quiet && Progress::StderrIsTerminal());
  }
  if (onnx) {
    QC_ASSIGN_OR_RETURN(auto pipelines, BuildOnnxPipelines(o, model));
    pm.AddAll(std::move(pipelines.first));
    onnx_quantize.AddAll(std::move(pipelines.second));
  } else {
    QC_ASSIGN_OR_RETURN(auto pipeline, BuildPipeline(o, model));
    pm.AddAll(std::move(pipeline));
  }
  QC_RETURN_IF_ERROR(pm.Run(model));

  uint64_t bytes_out = model.tensors.TotalBytes();
  {
    // ONNX writes one model per dtype (q4 ones smaller): the float size per model is an upper bound.
    const uint64_t models = onnx ? o.dtypes.size() : 1;
    Progress progress("convert", bytes_out * models, model.tensors.size() * models, !global.quiet && Progress::StderrIsTerminal());
    if (mp) {
      if (model.mp_ranks != o.mp) {
        return absl::InvalidArgumentError(StrCat("--mp ", o.mp, " but the pipeline's shard pass made ", model.mp_ranks, " ranks"));
      }
      QC_RETURN_IF_ERROR(formats::mp::WriteMpShards(model, out->staging(), &progress));
    } else if (gguf) {
      if (model.layout != "gguf") return absl::InvalidArgumentError("--format gguf needs the gguf-layout pass in --passes");
      model.metadata.Set("quantc.version", MetaValue::String(QUANTC_VERSION));
      model.metadata.Set("quantc.pipeline", MetaValue::String(model.PipelineText()));
      QC_RETURN_IF_ERROR(WriteGgufOutput(model, o, split_max, *out, &progress));
    } else if (qdq) {
      QC_ASSIGN_OR_RETURN(bytes_out, WriteOnnxQdqFolder(model, out->staging(), &progress));
    } else if (onnx) {
      QC_ASSIGN_OR_RETURN(bytes_out, WriteOnnxFolder(model, onnx_quantize, out->staging(),
                                                     {.dtypes = o.dtypes, .accuracy_level = o.accuracy_level, .progress = &progress}));
    } else {
      QC_RETURN_IF_ERROR(passes::CheckPackableModel(model, "--format safetensors"));
      formats::HfWriteOptions write;
      write.max_shard_bytes = max_shard;
      write.progress = &progress;
      QC_RETURN_IF_ERROR(formats::WriteHfFolder(model, out->staging(), write));
    }
  }
  if (gguf && split_max != 0) {
    QC_RETURN_IF_ERROR(MoveSplitIntoPlace(out->staging(), fs::path(o.output), o.force));
  } else {
    QC_RETURN_IF_ERROR(out->Commit());
  }

  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!global.quiet) {
    for (const PassManager* m : {&pm, &onnx_quantize}) {
      for (const std::string& note : m->notes()) fmt::print(stderr, "note: {}\n", note);
    }
    fmt::print("converted {} -> {} ({})\n", o.input, o.output, o.format);
    fmt::print("  tensors   {} in, {} out\n", tensors_in, model.tensors.size());
    fmt::print("  bytes     {} read, {} written\n", FormatBytes(bytes_in), FormatBytes(bytes_out));
    fmt::print("  pipeline  {}\n", model.pipeline.empty() ? "(none)" : model.PipelineText());
    if (onnx && !onnx_quantize.statistics().empty()) {
      std::vector<std::string> texts;
      for (const auto& [text, stats] : onnx_quantize.statistics()) texts.push_back(text);
      fmt::print("  q4 models {}\n", StrJoin(texts, ","));
    }
    for (const PassManager* m : {&pm, &onnx_quantize}) {
      for (const auto& [pass, stats] : m->statistics()) {
        for (const auto& [key, n] : stats.counts()) fmt::print("  {:<9} {} = {}\n", "", key, n);
      }
    }
    fmt::print("  time      {:.2f} s ({}/s moved)\n", secs, FormatBytes((bytes_in + bytes_out) / std::max(secs, 1e-9)));
  }
  return absl::OkStatus();
}

}  // namespace

CommandRunner AddConvertCommand(CLI::App& app, const GlobalOptions& global) {
  auto o = std::make_shared<ConvertOptions>();
  app.add_option("input", o->input, "checkpoint folder (config.json + safetensors), or an F32/F16/BF16 .gguf file")
      ->required();
  app.add_option("-o,--output", o->output, "output folder, or .gguf file (written atomically)")->required();
  app.add_option("--format", o->format, "output format (default: gguf when the output ends in .gguf, else safetensors)")
      ->check(CLI::IsMember({"safetensors", "gguf", "mp", "onnx", "onnx-qdq"}));
  app.add_option("--chunk", o->npu.chunk, "onnx-qdq: tokens per context-model call (static)")->capture_default_str();
  app.add_option("--cache", o->npu.cache, "onnx-qdq: KV cache length (static)")->capture_default_str();
  app.add_option("--lm-head-bits", o->npu.lm_head_bits, "onnx-qdq: lm_head MatMulNBits bits (4 or 8)")->capture_default_str();
  app.add_option("--dtypes", o->dtypes, "onnx: which models to write (transformers.js dtypes: fp32, fp16, q4, q4f16)")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--accuracy-level", o->accuracy_level,
                 "onnx: MatMulNBits accuracy_level of q4 models (4: int8 activations, fast on CPU/wasm; 0: exact)")
      ->check(CLI::IsMember({0, 1, 2, 3, 4}))
      ->capture_default_str();
  app.add_option("--mp", o->mp, "mp: model-parallel ranks N (DeepSeek-Infer's model{r}-mp{N}.safetensors)")
      ->check(CLI::PositiveNumber);
  app.add_option("--type", o->type,
                 "GGUF: llama-quantize mix or type (Q4_K_M, Q5_K_M, Q8_0, Q6_K, Q4_0, IQ4_XS, F16, BF16, ...); "
                 "safetensors: integer scheme for vLLM's compressed-tensors pack-quantized (int4, int4-g128, int8, "
                 "int4-g128-asym; runs int-quant after --passes) or FP4 (mxfp4, nvfp4: fp4-pack's compressed-tensors, routed "
                 "experts by default); onnx: the q4 models' scheme (default int4-g32). "
                 "Default: keep the checkpoint's F32/F16/BF16");
  app.add_option("--imatrix", o->imatrix, "GGUF: importance matrix (llama.cpp imatrix GGUF, from `quantc imatrix` or llama-imatrix)");
  app.add_option("--override", o->overrides, "GGUF: per-tensor type, 'REGEX=TYPE' (repeatable; first match wins)");
  app.add_flag("--pure", o->pure, "GGUF: no mix rules, every quantizable tensor gets --type");
  app.add_flag("--leave-output", o->leave_output, "GGUF: keep output.weight unquantized");
  app.add_option("--split-max-size", o->split_max_size, "GGUF: split into <name>-0000N-of-0000M.gguf shards of at most this size");
  app.add_option("--calib", o->calib, "calibration text for passes that run the model (gptq, allocate, onnx-qdq ranges); never the text you evaluate on")
      ->check(CLI::ExistingFile);
  app.add_option("--passes", o->passes,
                 "pass pipeline, e.g. 'fp8-to-bf16' (default: fp8-to-bf16 when the input has FP8 weights; "
                 "'' for none; see `quantc passes`)");
  app.add_option("--max-shard-size", o->max_shard_size, "largest output shard, e.g. 5GB, 500MB")
      ->capture_default_str();
  app.add_flag("-f,--force", o->force, "replace an existing output (only once the new one is complete)");
  return [o, &global, &app]() {
    o->passes_given = app.count("--passes") > 0;
    if (o->format.empty()) o->format = EndsInGguf(o->output) ? "gguf" : "safetensors";
    return RunConvert(*o, global);
  };
}

}  // namespace quantc::tools
