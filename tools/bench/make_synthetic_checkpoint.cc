// Writes a synthetic checkpoint of any size, streaming: tensor bytes are generated chunk by chunk
// as the writer pulls them, so a 20 GB checkpoint costs a few MiB of RAM. Two architectures:
//
// --arch deepseek_v3 (default): DeepSeek-V3-shaped FP8. FP8 weights are pseudo-random E4M3 codes
//   (never NaN) with F32 128x128 block scales; embeddings, norms and the router are BF16/F32, as in
//   the released checkpoint (specs/deepseek-checkpoints.md §1.3).
// --arch qwen2: a BF16 Qwen2ForCausalLM, by default shaped like DeepSeek-R1-Distill-Qwen-1.5B
//   (hidden 1536, 28 layers, 12 heads / 2 KV heads of 128, vocab 151936, q/k/v biases, untied
//   lm_head): weights and biases |x| in [2^-7, 2^-5), norms 1.0. Input for the runner benchmark.
//
//   make_synthetic_checkpoint --out /tmp/ds-synth --layers 5 --dense-layers 3 --experts 64   (~9 GB)
//   make_synthetic_checkpoint --arch qwen2 --out /tmp/qwen2-1.5b                              (~3.6 GB)
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "lib/support/strings.h"
#include "fmt/core.h"
#include "formats/hf/hf_folder.h"
#include "lib/support/file_util.h"
#include "lib/support/output_dir.h"
#include "lib/support/status_macros.h"

namespace quantc {
namespace {

struct Shapes {
  int64_t hidden = 7168, intermediate = 18432, moe_intermediate = 2048, vocab = 129280;
  int64_t heads = 128, q_lora = 1536, kv_lora = 512, nope = 128, rope = 64, v_head = 128;
  int64_t layers = 5, dense_layers = 3, experts = 64, shared_experts = 1, top_k = 8;
  // Weight-like values (FP8 codes |q| <= 1.875, scales ~2^-6) and a complete config (routing,
  // rope, norms) so transformers and the runner compute the same meaningful model: the
  // model-parallel proof's checkpoint (--mp-proof).
  bool weight_like = false;
};

// --mp-proof: every split dimension a multiple of 128 * 8, so N = 8 holds with FP8 scales split
// too: hidden 1024, 16 heads (nope 128, rope 64, v 128), q_lora 256, kv_lora 128, dense and
// shared-expert MLP 1024, 8 routed experts of 1024 (one per rank at N = 8), 2 layers (1 dense),
// vocab 1024. ~40 MB.
Shapes MpProofShapes() {
  Shapes s;
  s.hidden = 1024, s.intermediate = 1024, s.moe_intermediate = 1024, s.vocab = 1024;
  s.heads = 16, s.q_lora = 256, s.kv_lora = 128, s.nope = 128, s.rope = 64, s.v_head = 128;
  s.layers = 2, s.dense_layers = 1, s.experts = 8, s.shared_experts = 1, s.top_k = 2;
  s.weight_like = true;
  return s;
}

// DeepSeek-R1-Distill-Qwen-1.5B (Qwen2ForCausalLM).
struct Qwen2Shapes {
  int64_t hidden = 1536, intermediate = 8960, layers = 28, heads = 12, kv_heads = 2, head_dim = 128;
  int64_t vocab = 151936;
};

enum class Fill { kFp8Codes, kFp8Small, kBf16Small, kF32Scale, kF32SmallScale, kF32Bias, kBf16Ones };

// Deterministic pseudo-random bytes generated per chunk (splitmix64 of the byte index), so any
// chunk can be produced independently and the file is identical run to run.
class SyntheticSource final : public TensorSource {
 public:
  SyntheticSource(uint64_t seed, uint64_t size, Fill fill) : seed_(seed), size_(size), fill_(fill) {}
  absl::Status Stream(ByteSink sink) const override {
    std::vector<uint8_t> buf;
    for (uint64_t pos = 0; pos < size_; pos += buf.size()) {
      buf.resize(std::min<uint64_t>(kStreamChunkBytes, size_ - pos));
      Generate(pos, buf);
      QC_RETURN_IF_ERROR(sink(buf));
    }
    return absl::OkStatus();
  }
  std::string Describe() const override { return "synthetic"; }

 private:
  static uint64_t Mix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
  }
  void Generate(uint64_t pos, std::vector<uint8_t>& buf) const {
    for (size_t i = 0; i < buf.size(); i += 8) {
      uint64_t r = Mix(seed_ ^ ((pos + i) / 8));
      for (size_t k = 0; k < 8 && i + k < buf.size(); ++k) {
        uint8_t b = static_cast<uint8_t>(r >> (8 * k));
        size_t at = i + k;
        uint64_t abs = pos + at;
        switch (fill_) {
          case Fill::kFp8Codes: buf[at] = (b & 0x7F) == 0x7F ? b ^ 1 : b; break;  // no NaN codes
          case Fill::kFp8Small: buf[at] = b & 0xBF; break;  // exponent <= 7: |q| <= 1.875
          case Fill::kBf16Small: buf[at] = abs % 2 ? (0x3C | (b & 0x80)) : b; break;  // |x| ~ 2^-7..2^-6
          case Fill::kBf16Ones: buf[at] = abs % 2 ? 0x3F : 0x80; break;              // 1.0
          case Fill::kF32Scale: buf[at] = (abs % 4 == 3) ? 0x3B : (abs % 4 == 2 ? 0x80 | (b & 0x7F) : b); break;
          case Fill::kF32SmallScale: buf[at] = (abs % 4 == 3) ? 0x3C : (abs % 4 == 2 ? 0x80 | (b & 0x7F) : b); break;  // ~2^-6
          case Fill::kF32Bias: buf[at] = 0; break;
        }
      }
    }
  }
  uint64_t seed_, size_;
  Fill fill_;
};

class Builder {
 public:
  explicit Builder(Model& m) : m_(m) {}
  absl::Status Add(const std::string& name, DType dtype, Shape shape, Fill fill) {
    TensorInfo info{dtype, std::move(shape)};
    QC_ASSIGN_OR_RETURN(uint64_t size, CheckedByteSize(info));
    return m_.tensors.Add({name, info, std::make_shared<SyntheticSource>(++seed_, size, fill), "synthetic"});
  }
  // An FP8 linear [out, in] with its 128x128 F32 scale grid.
  absl::Status Linear(const std::string& name, int64_t out, int64_t in) {
    QC_RETURN_IF_ERROR(Add(name, DType::kF8E4M3, {out, in}, weight_like_ ? Fill::kFp8Small : Fill::kFp8Codes));
    return Add(name + "_scale_inv", DType::kF32, {(out + 127) / 128, (in + 127) / 128},
               weight_like_ ? Fill::kF32SmallScale : Fill::kF32Scale);
  }
  bool weight_like_ = false;

 private:
  Model& m_;
  uint64_t seed_ = 0;
};

absl::Status BuildDeepseekV3(const Shapes& s, Model& m) {
  Builder b(m);
  b.weight_like_ = s.weight_like;
  const int64_t h = s.hidden;
  QC_RETURN_IF_ERROR(b.Add("model.embed_tokens.weight", DType::kBF16, {s.vocab, h}, Fill::kBf16Small));
  for (int64_t l = 0; l < s.layers; ++l) {
    std::string p = StrCat("model.layers.", l, ".");
    QC_RETURN_IF_ERROR(b.Add(p + "input_layernorm.weight", DType::kBF16, {h}, Fill::kBf16Ones));
    QC_RETURN_IF_ERROR(b.Add(p + "post_attention_layernorm.weight", DType::kBF16, {h}, Fill::kBf16Ones));
    QC_RETURN_IF_ERROR(b.Linear(p + "self_attn.q_a_proj.weight", s.q_lora, h));
    QC_RETURN_IF_ERROR(b.Add(p + "self_attn.q_a_layernorm.weight", DType::kBF16, {s.q_lora}, Fill::kBf16Ones));
    QC_RETURN_IF_ERROR(b.Linear(p + "self_attn.q_b_proj.weight", s.heads * (s.nope + s.rope), s.q_lora));
    QC_RETURN_IF_ERROR(b.Linear(p + "self_attn.kv_a_proj_with_mqa.weight", s.kv_lora + s.rope, h));
    QC_RETURN_IF_ERROR(b.Add(p + "self_attn.kv_a_layernorm.weight", DType::kBF16, {s.kv_lora}, Fill::kBf16Ones));
    QC_RETURN_IF_ERROR(b.Linear(p + "self_attn.kv_b_proj.weight", s.heads * (s.nope + s.v_head), s.kv_lora));
    QC_RETURN_IF_ERROR(b.Linear(p + "self_attn.o_proj.weight", h, s.heads * s.v_head));
    if (l < s.dense_layers) {
      QC_RETURN_IF_ERROR(b.Linear(p + "mlp.gate_proj.weight", s.intermediate, h));
      QC_RETURN_IF_ERROR(b.Linear(p + "mlp.up_proj.weight", s.intermediate, h));
      QC_RETURN_IF_ERROR(b.Linear(p + "mlp.down_proj.weight", h, s.intermediate));
      continue;
    }
    QC_RETURN_IF_ERROR(b.Add(p + "mlp.gate.weight", DType::kBF16, {s.experts, h}, Fill::kBf16Small));
    QC_RETURN_IF_ERROR(b.Add(p + "mlp.gate.e_score_correction_bias", DType::kF32, {s.experts}, Fill::kF32Bias));
    for (int64_t e = 0; e < s.experts; ++e) {
      std::string x = StrCat(p, "mlp.experts.", e, ".");
      QC_RETURN_IF_ERROR(b.Linear(x + "gate_proj.weight", s.moe_intermediate, h));
      QC_RETURN_IF_ERROR(b.Linear(x + "up_proj.weight", s.moe_intermediate, h));
      QC_RETURN_IF_ERROR(b.Linear(x + "down_proj.weight", h, s.moe_intermediate));
    }
    const int64_t shared = s.moe_intermediate * s.shared_experts;
    QC_RETURN_IF_ERROR(b.Linear(p + "mlp.shared_experts.gate_proj.weight", shared, h));
    QC_RETURN_IF_ERROR(b.Linear(p + "mlp.shared_experts.up_proj.weight", shared, h));
    QC_RETURN_IF_ERROR(b.Linear(p + "mlp.shared_experts.down_proj.weight", h, shared));
  }
  QC_RETURN_IF_ERROR(b.Add("model.norm.weight", DType::kBF16, {h}, Fill::kBf16Ones));
  QC_RETURN_IF_ERROR(b.Add("lm_head.weight", DType::kBF16, {s.vocab, h}, Fill::kBf16Small));

  m.config = {{"architectures", {"DeepseekV3ForCausalLM"}},
              {"model_type", "deepseek_v3"},
              {"hidden_size", h},
              {"intermediate_size", s.intermediate},
              {"moe_intermediate_size", s.moe_intermediate},
              {"vocab_size", s.vocab},
              {"num_hidden_layers", s.layers},
              {"first_k_dense_replace", s.dense_layers},
              {"n_routed_experts", s.experts},
              {"n_shared_experts", s.shared_experts},
              {"num_experts_per_tok", s.top_k},
              {"num_attention_heads", s.heads},
              {"num_key_value_heads", s.heads},
              {"q_lora_rank", s.q_lora},
              {"kv_lora_rank", s.kv_lora},
              {"qk_nope_head_dim", s.nope},
              {"qk_rope_head_dim", s.rope},
              {"v_head_dim", s.v_head},
              {"torch_dtype", "bfloat16"},
              {"quantization_config",
               {{"activation_scheme", "dynamic"}, {"fmt", "e4m3"}, {"quant_method", "fp8"},
                {"weight_block_size", {128, 128}}}}};
  if (s.weight_like) {  // transformers' defaults differ from the runner's here; spell them out
    m.config["n_group"] = 1;
    m.config["topk_group"] = 1;
    m.config["routed_scaling_factor"] = 2.5;
    m.config["norm_topk_prob"] = true;
    m.config["scoring_func"] = "sigmoid";
    m.config["rms_norm_eps"] = 1e-6;
    m.config["rope_parameters"] = {{"rope_theta", 10000.0}, {"rope_type", "default"}};
    m.config["rope_interleave"] = true;
    m.config["max_position_embeddings"] = 4096;
    m.config["hidden_act"] = "silu";
    m.config["tie_word_embeddings"] = false;
    m.config["attention_bias"] = false;
    m.config["num_nextn_predict_layers"] = 0;
  }
  return absl::OkStatus();
}

absl::Status BuildQwen2(const Qwen2Shapes& s, Model& m) {
  Builder b(m);
  const int64_t h = s.hidden, q_out = s.heads * s.head_dim, kv_out = s.kv_heads * s.head_dim;
  auto weight = [&](const std::string& name, Shape shape) {
    return b.Add(name, DType::kBF16, std::move(shape), Fill::kBf16Small);
  };
  QC_RETURN_IF_ERROR(weight("model.embed_tokens.weight", {s.vocab, h}));
  for (int64_t l = 0; l < s.layers; ++l) {
    std::string p = StrCat("model.layers.", l, ".");
    QC_RETURN_IF_ERROR(b.Add(p + "input_layernorm.weight", DType::kBF16, {h}, Fill::kBf16Ones));
    QC_RETURN_IF_ERROR(b.Add(p + "post_attention_layernorm.weight", DType::kBF16, {h}, Fill::kBf16Ones));
    QC_RETURN_IF_ERROR(weight(p + "self_attn.q_proj.weight", {q_out, h}));
    QC_RETURN_IF_ERROR(weight(p + "self_attn.q_proj.bias", {q_out}));
    QC_RETURN_IF_ERROR(weight(p + "self_attn.k_proj.weight", {kv_out, h}));
    QC_RETURN_IF_ERROR(weight(p + "self_attn.k_proj.bias", {kv_out}));
    QC_RETURN_IF_ERROR(weight(p + "self_attn.v_proj.weight", {kv_out, h}));
    QC_RETURN_IF_ERROR(weight(p + "self_attn.v_proj.bias", {kv_out}));
    QC_RETURN_IF_ERROR(weight(p + "self_attn.o_proj.weight", {h, q_out}));
    QC_RETURN_IF_ERROR(weight(p + "mlp.gate_proj.weight", {s.intermediate, h}));
    QC_RETURN_IF_ERROR(weight(p + "mlp.up_proj.weight", {s.intermediate, h}));
    QC_RETURN_IF_ERROR(weight(p + "mlp.down_proj.weight", {h, s.intermediate}));
  }
  QC_RETURN_IF_ERROR(b.Add("model.norm.weight", DType::kBF16, {h}, Fill::kBf16Ones));
  QC_RETURN_IF_ERROR(weight("lm_head.weight", {s.vocab, h}));

  m.config = {{"architectures", {"Qwen2ForCausalLM"}},
              {"model_type", "qwen2"},
              {"hidden_act", "silu"},
              {"hidden_size", h},
              {"intermediate_size", s.intermediate},
              {"num_hidden_layers", s.layers},
              {"num_attention_heads", s.heads},
              {"num_key_value_heads", s.kv_heads},
              {"head_dim", s.head_dim},
              {"vocab_size", s.vocab},
              {"max_position_embeddings", 131072},
              {"rope_theta", 10000.0},
              {"rms_norm_eps", 1e-6},
              {"tie_word_embeddings", false},
              {"use_sliding_window", false},
              {"torch_dtype", "bfloat16"}};
  return absl::OkStatus();
}

}  // namespace
}  // namespace quantc

int main(int argc, char** argv) {
  quantc::Shapes ds;
  quantc::Qwen2Shapes qw;
  std::string arch = "deepseek_v3", out, max_shard = "4GB";
  bool force = false;
  // Options shared by both architectures default per architecture: 0 means "the arch's default".
  int64_t layers = 0, hidden = 0, intermediate = 0, vocab = 0, heads = 0;
  CLI::App app{"Write a synthetic checkpoint (streaming): DeepSeek-V3-shaped FP8 or a BF16 Qwen2"};
  app.add_option("--arch", arch, "architecture")->check(CLI::IsMember({"deepseek_v3", "qwen2"}))->capture_default_str();
  app.add_option("--out", out, "output folder")->required();
  app.add_option("--layers", layers, fmt::format("decoder layers (deepseek_v3 {} | qwen2 {})", ds.layers, qw.layers));
  app.add_option("--hidden", hidden, fmt::format("hidden size (deepseek_v3 {} | qwen2 {})", ds.hidden, qw.hidden));
  app.add_option("--intermediate", intermediate,
                 fmt::format("dense FFN size (deepseek_v3 {} | qwen2 {})", ds.intermediate, qw.intermediate));
  app.add_option("--vocab", vocab, fmt::format("vocabulary (deepseek_v3 {} | qwen2 {})", ds.vocab, qw.vocab));
  app.add_option("--heads", heads, fmt::format("attention heads (deepseek_v3 {} | qwen2 {})", ds.heads, qw.heads));
  std::vector<CLI::Option*> ds_only = {
      app.add_option("--dense-layers", ds.dense_layers, "deepseek_v3: leading dense layers (first_k_dense_replace)")
          ->capture_default_str(),
      app.add_option("--experts", ds.experts, "deepseek_v3: routed experts per MoE layer")->capture_default_str(),
      app.add_option("--moe-intermediate", ds.moe_intermediate, "deepseek_v3: expert FFN size")->capture_default_str()};
  std::vector<CLI::Option*> qwen_only = {
      app.add_option("--kv-heads", qw.kv_heads, "qwen2: key/value heads")->capture_default_str(),
      app.add_option("--head-dim", qw.head_dim, "qwen2: head dimension")->capture_default_str()};
  app.add_option("--max-shard-size", max_shard, "shard size")->capture_default_str();
  bool mp_proof = false;
  app.add_flag("--mp-proof", mp_proof,
               "deepseek_v3: the model-parallel proof's checkpoint (every split dim a multiple of 1024, "
               "weight-like values, complete config; ~40 MB); other shape options are ignored");
  app.add_flag("--force", force, "replace an existing folder");
  CLI11_PARSE(app, argc, argv);

  const bool qwen2 = arch == "qwen2";
  for (CLI::Option* o : qwen2 ? ds_only : qwen_only) {
    if (o->count() > 0) {
      fmt::print(stderr, "make_synthetic_checkpoint: error: {} does not apply to --arch {}\n", o->get_name(), arch);
      return 2;
    }
  }
  auto pick = [&](int64_t value, int64_t& ds_field, int64_t& qw_field) {
    if (value > 0) (qwen2 ? qw_field : ds_field) = value;
  };
  pick(layers, ds.layers, qw.layers);
  pick(hidden, ds.hidden, qw.hidden);
  pick(intermediate, ds.intermediate, qw.intermediate);
  pick(vocab, ds.vocab, qw.vocab);
  pick(heads, ds.heads, qw.heads);
  if (mp_proof) ds = quantc::MpProofShapes();

  auto run = [&]() -> absl::Status {
    quantc::Model model;
    QC_RETURN_IF_ERROR(qwen2 ? quantc::BuildQwen2(qw, model) : quantc::BuildDeepseekV3(ds, model));
    QC_ASSIGN_OR_RETURN(uint64_t shard, quantc::ParseByteSize(max_shard));
    QC_ASSIGN_OR_RETURN(auto dir, quantc::AtomicOutput::Begin(out, quantc::AtomicOutput::Kind::kDirectory, force));
    QC_RETURN_IF_ERROR(quantc::formats::WriteHfFolder(model, dir->staging(), {shard, nullptr}));
    QC_RETURN_IF_ERROR(dir->Commit());
    fmt::print("wrote {}: {} tensors, {}\n", out, model.tensors.size(), quantc::FormatBytes(model.tensors.TotalBytes()));
    return absl::OkStatus();
  };
  if (absl::Status st = run(); !st.ok()) {
    fmt::print(stderr, "make_synthetic_checkpoint: error: {}\n", std::string(st.message()));
    return 1;
  }
  return 0;
}
