// A second, deliberately independent implementation of the tensor side of llama.cpp's
// convert_hf_to_gguf.py for the architectures quantc runs (qwen2, llama, deepseek_v3 -> deepseek2),
// written from the converter's code as facts (llama.cpp conversion/{base,llama,deepseek}.py,
// gguf-py/gguf/constants.py) without lib/arch's name tables or passes/gguf_layout.cc, so tests can
// check the runner (and later the gguf-layout pass) against it:
//   - names: llama.cpp's (token_embd, blk.N.attn_q, ...), typed out here again;
//   - llama q/k rows (and biases) permuted per head: rows [n_head, 2, head_dim/2] -> [n_head,
//     head_dim/2, 2] (LlamaModel.permute; k with num_key_value_heads);
//   - DeepSeek kv_b [H*(nope+v), kv_lora] split into attn_k_b [H, kv_lora, nope] (k part transposed
//     per head) and attn_v_b [H, v, kv_lora] (H = config num_key_value_heads);
//   - routed experts stacked per layer into ffn_{gate,up,down}_exps [n_expert, out, in], emitted in
//     the converter's order (down, gate, up) once a layer's experts are all seen;
//   - llama3 rope scaling as rope_freqs.weight (LlamaModel.generate_extra_tensors), emitted first;
//   - F32 for 1-D tensors, *_norm.weight, ffn_gate_inp and every name not ending in ".weight"; other
//     tensors keep their dtype (a float checkpoint converted with --outtype of its own dtype);
//   - tied lm_head and layers >= num_hidden_layers (DeepSeek MTP) dropped.
// Metadata: general.architecture plus arch::GgufArchMetadata(spec, config). The config is the HF one,
// unchanged (callers wanting GGUF semantics replace it with arch::HfConfigFromGguf). Only float
// checkpoints (F32/F16/BF16 tensors) are accepted.
#pragma once

#include <cmath>
#include <cstring>
#include <map>
#include <numbers>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/arch/gguf_layout.h"
#include "lib/arch/model_spec.h"
#include "lib/dtypes/dtype.h"
#include "lib/ir/model.h"
#include "lib/tensor/tensor.h"

namespace quantc::testing {

// llama.cpp's rope frequency factors for a config with llama3 rope scaling (rope_parameters or
// rope_scaling with rope_type/type "llama3"); nullopt otherwise. In float32, step by step as torch
// evaluates the converter's expressions: a Python number divided by a tensor is the tensor's
// reciprocal times the number (torch's __rtruediv__), every other operation one float32 rounding.
// (Checked against torch 1.13 for tiny-llama-bf16 in runner_gguf_layout_test.)
inline std::optional<std::vector<float>> Llama3RopeFreqFactors(const nlohmann::ordered_json& config) {
  const nlohmann::ordered_json* p = nullptr;
  if (config.contains("rope_parameters") && config["rope_parameters"].is_object()) p = &config["rope_parameters"];
  else if (config.contains("rope_scaling") && config["rope_scaling"].is_object()) p = &config["rope_scaling"];
  if (p == nullptr) return std::nullopt;
  std::string type = p->value("rope_type", p->value("type", std::string()));
  if (type != "llama3") return std::nullopt;
  const double base = p->contains("rope_theta") ? (*p)["rope_theta"].get<double>() : config.value("rope_theta", 10000.0);
  int64_t dim = config.contains("head_dim") && !config["head_dim"].is_null()
                    ? config["head_dim"].get<int64_t>()
                    : config["hidden_size"].get<int64_t>() / config["num_attention_heads"].get<int64_t>();
  const float factor = p->value("factor", 8.0f);
  const float low_freq_factor = p->value("low_freq_factor", 1.0f);
  const float high_freq_factor = p->value("high_freq_factor", 4.0f);
  const float old_context_len = static_cast<float>(p->value("original_max_position_embeddings", int64_t{8192}));
  const float low_freq_wavelen = old_context_len / low_freq_factor;
  const float high_freq_wavelen = old_context_len / high_freq_factor;
  std::vector<float> factors;
  for (int64_t i = 0; i < dim; i += 2) {
    const float freq = 1.0f / std::pow(static_cast<float>(base), static_cast<float>(i) / static_cast<float>(dim));
    const float wavelen = (1.0f / freq) * static_cast<float>(2 * std::numbers::pi);
    if (wavelen < high_freq_wavelen) {
      factors.push_back(1.0f);
    } else if (wavelen > low_freq_wavelen) {
      factors.push_back(factor);
    } else {
      const float smooth = ((1.0f / wavelen) * old_context_len - low_freq_factor) / (high_freq_factor - low_freq_factor);
      factors.push_back(1.0f / ((1.0f - smooth) / factor + smooth));
    }
  }
  return factors;
}

namespace gguf_reference_internal {

struct Tensor {
  DType dtype;
  Shape shape;
  std::vector<uint8_t> bytes;
};

inline absl::Status Add(Model& out, std::string name, Tensor t) {
  TensorInfo info{t.dtype, std::move(t.shape)};
  auto source = std::make_shared<OwnedTensorSource>(std::move(t.bytes), "gguf-layout-reference");
  return out.tensors.Add(TensorEntry{std::move(name), std::move(info), std::move(source), "gguf-layout-reference"});
}

inline std::vector<uint8_t> F32Bytes(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// out row (h, 2j + s) = in row (h, s * half + j): LlamaModel.permute's reshape + swapaxes(1, 2).
inline Tensor PermuteRows(const Tensor& in, int64_t n_head) {
  const int64_t rows = in.shape[0], hd = rows / n_head, half = hd / 2;
  const size_t row_bytes = in.bytes.size() / static_cast<size_t>(rows);
  Tensor out{in.dtype, in.shape, std::vector<uint8_t>(in.bytes.size())};
  for (int64_t h = 0; h < n_head; ++h) {
    for (int64_t j = 0; j < half; ++j) {
      for (int64_t s = 0; s < 2; ++s) {
        std::memcpy(out.bytes.data() + (h * hd + 2 * j + s) * row_bytes, in.bytes.data() + (h * hd + s * half + j) * row_bytes,
                    row_bytes);
      }
    }
  }
  return out;
}

}  // namespace gguf_reference_internal

inline absl::StatusOr<Model> GgufLayoutReference(const Model& hf) {
  using gguf_reference_internal::Add;
  using gguf_reference_internal::F32Bytes;
  using gguf_reference_internal::Tensor;
  auto spec = arch::ParseModelSpec(hf.config);
  if (!spec.ok()) return spec.status();
  const nlohmann::ordered_json& config = hf.config;
  const std::string model_type = hf.model_type();
  auto arch_name = arch::GgufArchName(model_type);
  if (!arch_name) return absl::UnimplementedError("no GGUF architecture for model_type " + model_type);
  const bool llama = model_type == "llama";
  const int64_t n_head = config["num_attention_heads"].get<int64_t>();
  const int64_t n_kv_head = config.value("num_key_value_heads", n_head);
  const bool tied = config.value("tie_word_embeddings", false);

  Model out;
  out.source_path = hf.source_path;
  out.config = hf.config;
  out.aux_files = hf.aux_files;
  out.pipeline = hf.pipeline;
  out.layout = "gguf";
  out.metadata.Set("general.architecture", MetaValue::String(std::string(*arch_name)));
  auto arch_md = arch::GgufArchMetadata(*spec, config);
  if (!arch_md.ok()) return arch_md.status();
  for (const auto& [k, v] : arch_md->entries()) out.metadata.Set(k, v);

  if (auto factors = Llama3RopeFreqFactors(config); factors && llama) {
    const int64_t n = static_cast<int64_t>(factors->size());
    if (auto s = Add(out, "rope_freqs.weight", Tensor{DType::kF32, {n}, F32Bytes(*factors)}); !s.ok()) return s;
  }

  // Emits `t` under `name` with the converter's type rule (F32 for 1-D, norms, router, non-.weight).
  auto emit = [&](const std::string& name, Tensor t) -> absl::Status {
    const bool f32 = t.shape.size() <= 1 || name.ends_with("_norm.weight") || name.ends_with("ffn_gate_inp.weight") ||
                     !name.ends_with(".weight");
    if (f32 && t.dtype != DType::kF32) {
      TensorInfo info{t.dtype, t.shape};
      OwnedTensorSource src(std::move(t.bytes));
      auto v = ReadAllAsF32(src, info);
      if (!v.ok()) return v.status();
      t = Tensor{DType::kF32, std::move(info.shape), F32Bytes(*v)};
    }
    return Add(out, name, std::move(t));
  };

  constexpr std::pair<std::string_view, std::string_view> kGlobal[] = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"},
  };
  constexpr std::pair<std::string_view, std::string_view> kLayer[] = {
      {"input_layernorm.weight", "attn_norm.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"},
      {"self_attn.q_proj.bias", "attn_q.bias"},
      {"self_attn.k_proj.bias", "attn_k.bias"},
      {"self_attn.v_proj.bias", "attn_v.bias"},
      {"self_attn.q_a_proj.weight", "attn_q_a.weight"},
      {"self_attn.q_a_layernorm.weight", "attn_q_a_norm.weight"},
      {"self_attn.q_b_proj.weight", "attn_q_b.weight"},
      {"self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight"},
      {"self_attn.kv_a_layernorm.weight", "attn_kv_a_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},
      {"mlp.gate.weight", "ffn_gate_inp.weight"},
      {"mlp.gate.e_score_correction_bias", "exp_probs_b.bias"},
      {"mlp.shared_experts.gate_proj.weight", "ffn_gate_shexp.weight"},
      {"mlp.shared_experts.up_proj.weight", "ffn_up_shexp.weight"},
      {"mlp.shared_experts.down_proj.weight", "ffn_down_shexp.weight"},
  };
  const int64_t n_expert = spec->moe.n_routed_experts;
  // layer -> "gate_proj"/"up_proj"/"down_proj" -> expert -> tensor
  std::map<int64_t, std::map<std::string, std::map<int64_t, Tensor>>> experts;

  for (const TensorEntry& e : hf.tensors.entries()) {
    const DTypeTraits& traits = Traits(e.info.dtype);
    if (e.info.dtype != DType::kF32 && e.info.dtype != DType::kF16 && e.info.dtype != DType::kBF16) {
      return absl::UnimplementedError("gguf layout reference: tensor '" + e.name + "' is " + std::string(traits.name) +
                                      " (float checkpoints only)");
    }
    const size_t elem = static_cast<size_t>(traits.block_bytes);
    auto bytes = ReadAll(*e.source, e.info.byte_size());
    if (!bytes.ok()) return bytes.status();
    Tensor t{e.info.dtype, e.info.shape, std::move(*bytes)};
    const std::string_view name = e.name;

    std::optional<std::string> global;
    for (const auto& [hf_name, gguf_name] : kGlobal) {
      if (name == hf_name) global = std::string(gguf_name);
    }
    if (global) {
      if (name == "lm_head.weight" && tied) continue;
      if (auto s = emit(*global, std::move(t)); !s.ok()) return s;
      continue;
    }
    constexpr std::string_view kPrefix = "model.layers.";
    if (!name.starts_with(kPrefix)) return absl::UnimplementedError("gguf layout reference: unknown tensor '" + e.name + "'");
    std::string_view rest = name.substr(kPrefix.size());
    const size_t dot = rest.find('.');
    const int64_t layer = std::stoll(std::string(rest.substr(0, dot)));
    rest.remove_prefix(dot + 1);
    if (layer >= spec->num_layers) continue;  // MTP layers: the converter skips them
    const std::string blk = "blk." + std::to_string(layer) + ".";

    if (rest.starts_with("mlp.experts.")) {
      std::string_view r = rest.substr(std::string_view("mlp.experts.").size());
      const size_t d = r.find('.');
      const int64_t xid = std::stoll(std::string(r.substr(0, d)));
      std::string kind(r.substr(d + 1));  // "gate_proj.weight"
      kind = kind.substr(0, kind.find('.'));
      experts[layer][kind][xid] = std::move(t);
      size_t seen = 0;
      for (const auto& [k, m] : experts[layer]) seen += m.size();
      if (static_cast<int64_t>(seen) < 3 * n_expert) continue;
      for (const char* w : {"down_proj", "gate_proj", "up_proj"}) {
        auto& per = experts[layer][w];
        if (static_cast<int64_t>(per.size()) != n_expert) {
          return absl::InvalidArgumentError("gguf layout reference: layer " + std::to_string(layer) + " lacks experts");
        }
        Tensor stacked{per.begin()->second.dtype, {n_expert}, {}};
        for (int64_t s : per.begin()->second.shape) stacked.shape.push_back(s);
        for (auto& [xid_, x] : per) stacked.bytes.insert(stacked.bytes.end(), x.bytes.begin(), x.bytes.end());
        const std::string kind_name = std::string(w).substr(0, std::string(w).find('_'));  // gate/up/down
        if (auto s = emit(blk + "ffn_" + kind_name + "_exps.weight", std::move(stacked)); !s.ok()) return s;
      }
      experts.erase(layer);
      continue;
    }
    if (rest == "self_attn.kv_b_proj.weight") {
      const int64_t v_dim = config["v_head_dim"].get<int64_t>(), nope = config["qk_nope_head_dim"].get<int64_t>();
      const int64_t lora = t.shape[1];
      if (t.shape[0] != n_kv_head * (v_dim + nope)) return absl::InvalidArgumentError("kv_b_proj rows");
      Tensor k_b{t.dtype, {n_kv_head, lora, nope}, std::vector<uint8_t>(n_kv_head * lora * nope * elem)};
      Tensor v_b{t.dtype, {n_kv_head, v_dim, lora}, std::vector<uint8_t>(n_kv_head * v_dim * lora * elem)};
      for (int64_t h = 0; h < n_kv_head; ++h) {
        const uint8_t* head = t.bytes.data() + h * (nope + v_dim) * lora * elem;
        for (int64_t d = 0; d < nope; ++d) {
          for (int64_t c = 0; c < lora; ++c) {
            std::memcpy(k_b.bytes.data() + ((h * lora + c) * nope + d) * elem, head + (d * lora + c) * elem, elem);
          }
        }
        std::memcpy(v_b.bytes.data() + h * v_dim * lora * elem, head + nope * lora * elem, v_dim * lora * elem);
      }
      if (auto s = emit(blk + "attn_k_b.weight", std::move(k_b)); !s.ok()) return s;
      if (auto s = emit(blk + "attn_v_b.weight", std::move(v_b)); !s.ok()) return s;
      continue;
    }
    std::optional<std::string> gguf;
    for (const auto& [hf_name, gguf_name] : kLayer) {
      if (rest == hf_name) gguf = blk + std::string(gguf_name);
    }
    if (!gguf) return absl::UnimplementedError("gguf layout reference: unknown tensor '" + e.name + "'");
    if (llama && rest.starts_with("self_attn.q_proj.")) t = gguf_reference_internal::PermuteRows(t, n_head);
    if (llama && rest.starts_with("self_attn.k_proj.")) t = gguf_reference_internal::PermuteRows(t, n_kv_head);
    if (auto s = emit(*gguf, std::move(t)); !s.ok()) return s;
  }
  if (!experts.empty()) return absl::InvalidArgumentError("gguf layout reference: incomplete expert set");
  return out;
}

}  // namespace quantc::testing
