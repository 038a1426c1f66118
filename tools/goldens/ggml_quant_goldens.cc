// Writes testdata/goldens/ggml_quants/ggml_quants.safetensors: fixed FP32 input rows, one importance
// vector, and for every ggml block type the bytes llama.cpp's own quantizer produces for them
// (ggml_quantize_chunk, with and without the importance vector) plus llama.cpp's decoding of the
// unweighted bytes (type_traits.to_float). quantc's reference kernels are tested against this file.
// Also the CPU backend's matmul arithmetic (ggml_get_type_traits_cpu): activation rows quantized
// by from_float to Q8_0 and Q8_K, and vec_dot of every unweighted weight row with each of them.
//
// Not part of the quantc build: it links llama.cpp's libggml-base and libggml-cpu, built from
// fetched source.
// How the committed file was made is in testdata/goldens/ggml_quants/README.md.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ggml-cpu.h"
#include "ggml.h"

namespace {

constexpr int kRows = 12;
constexpr int kCols = 512;  // two 256-weight super-blocks per row

struct Named {
  std::string name;
  std::string dtype;  // safetensors spelling
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

template <typename T>
std::vector<uint8_t> AsBytes(const std::vector<T>& v) {
  std::vector<uint8_t> out(v.size() * sizeof(T));
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

// Rows chosen to reach every branch of the scale searches: ordinary weights, outliers, one-signed
// rows (the min clipping), zero and constant blocks, tiny and large magnitudes.
std::vector<float> MakeInput() {
  std::mt19937 rng(20261122);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> x(kRows * kCols);
  for (int r = 0; r < kRows; ++r) {
    float* row = &x[r * kCols];
    for (int c = 0; c < kCols; ++c) {
      float g = normal(rng), u = uniform(rng);
      switch (r) {
        case 0: row[c] = g; break;                                   // unit Gaussian
        case 1: row[c] = 0.02f * g; break;                           // weight-like scale
        case 2: row[c] = 0.02f * g * (c % 37 == 5 ? 25.0f : 1.0f); break;  // outliers
        case 3: row[c] = u; break;                                   // uniform
        case 4: row[c] = 0.0f; break;                                // all zero
        case 5: row[c] = 0.5f; break;                                // constant
        case 6: row[c] = std::fabs(u); break;                        // all positive
        case 7: row[c] = -std::fabs(g) - 0.1f; break;                // all negative, offset
        case 8: row[c] = 1e-9f * g; break;                           // below the zero thresholds
        case 9: row[c] = (c / 32) % 2 ? 0.0f : 0.05f * g; break;     // alternating zero blocks
        case 10: row[c] = 300.0f * g; break;                         // large magnitude
        case 11: row[c] = 0.01f * g / (0.05f + std::fabs(u)); break; // heavy tail
      }
    }
  }
  return x;
}

// Activation rows for the dot products: Gaussian; rounding ties for Q8_0 (amax 127, so codes are
// the values: x.5 halves) and for Q8_K's sign choice (+amax and -amax in one block); a zero block
// then a heavy tail.
constexpr int kActRows = 4;
std::vector<float> MakeActivations() {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> a(kActRows * kCols);
  for (int c = 0; c < kCols; ++c) {
    const float g = normal(rng);
    a[c] = g;
    a[kCols + c] = c % 32 == 0 ? 127.0f : static_cast<float>(c % 64) - 31.5f;
    a[2 * kCols + c] = c % 256 == 7 ? 4.0f : c % 256 == 9 ? -4.0f : g;
    a[3 * kCols + c] = c < 256 ? 0.0f : g / (0.05f + std::fabs(normal(rng)));
  }
  return a;
}

std::vector<float> MakeImatrix() {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.5f);
  std::vector<float> w(kCols);
  for (int c = 0; c < kCols; ++c) w[c] = std::exp(normal(rng));  // mean x^2, spread over decades
  return w;
}

void WriteSafetensors(const char* path, const std::vector<Named>& tensors, const std::string& meta) {
  std::string header = "{\"__metadata__\":{" + meta + "}";
  uint64_t offset = 0;
  for (const Named& t : tensors) {
    header += ",\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) header += (i ? "," : "") + std::to_string(t.shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + t.bytes.size()) + "]}";
    offset += t.bytes.size();
  }
  header += "}";
  while (header.size() % 8) header += ' ';
  FILE* f = std::fopen(path, "wb");
  if (!f) { std::perror(path); std::exit(1); }
  uint64_t n = header.size();
  std::fwrite(&n, 8, 1, f);
  std::fwrite(header.data(), 1, header.size(), f);
  for (const Named& t : tensors) std::fwrite(t.bytes.data(), 1, t.bytes.size(), f);
  std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s OUT.safetensors LLAMA_CPP_COMMIT\n", argv[0]);
    return 2;
  }
  ggml_cpu_init();  // the CPU backend's fp16 tables: vec_dot reads scales through them
  const std::vector<float> input = MakeInput();
  const std::vector<float> imatrix = MakeImatrix();
  std::vector<Named> out;
  out.push_back({"input", "F32", {kRows, kCols}, AsBytes(input)});
  out.push_back({"imatrix", "F32", {kCols}, AsBytes(imatrix)});

  const ggml_type types[] = {GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0,
                             GGML_TYPE_Q5_1, GGML_TYPE_Q8_0, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K,
                             GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS, GGML_TYPE_MXFP4};
  for (ggml_type type : types) {
    const size_t row_bytes = ggml_row_size(type, kCols);
    for (int weighted = 0; weighted < 2; ++weighted) {
      std::vector<uint8_t> q(row_bytes * kRows);
      size_t n = ggml_quantize_chunk(type, input.data(), q.data(), 0, kRows, kCols, weighted ? imatrix.data() : nullptr);
      if (n != q.size()) { std::fprintf(stderr, "%s: size %zu != %zu\n", ggml_type_name(type), n, q.size()); return 1; }
      std::vector<float> back(kRows * kCols);
      ggml_get_type_traits(type)->to_float(q.data(), back.data(), kRows * kCols);
      const std::string base = std::string(ggml_type_name(type)) + (weighted ? ".imatrix" : "");
      out.push_back({base, "U8", {kRows, static_cast<int64_t>(row_bytes)}, q});
      // Decoding is a function of the bytes alone: one decoded copy per type is enough.
      if (!weighted) out.push_back({base + ".dequant", "F32", {kRows, kCols}, AsBytes(back)});
    }
  }
  // The CPU backend: activations quantized as its matmul quantizes them, then vec_dot per pair.
  const std::vector<float> acts = MakeActivations();
  out.push_back({"activations", "F32", {kActRows, kCols}, AsBytes(acts)});
  for (ggml_type act_type : {GGML_TYPE_Q8_0, GGML_TYPE_Q8_K}) {
    const size_t act_bytes = ggml_row_size(act_type, kCols);
    std::vector<uint8_t> qa(act_bytes * kActRows);
    for (int r = 0; r < kActRows; ++r) {
      ggml_get_type_traits_cpu(act_type)->from_float(acts.data() + r * kCols, qa.data() + r * act_bytes, kCols);
    }
    out.push_back({std::string("activations.") + ggml_type_name(act_type), "U8", {kActRows, static_cast<int64_t>(act_bytes)}, qa});
    for (ggml_type type : types) {
      const ggml_type_traits_cpu* cpu = ggml_get_type_traits_cpu(type);
      if (cpu->vec_dot_type != act_type) continue;
      const size_t row_bytes = ggml_row_size(type, kCols);
      std::vector<uint8_t> q(row_bytes * kRows);
      ggml_quantize_chunk(type, input.data(), q.data(), 0, kRows, kCols, nullptr);
      std::vector<float> dots(kRows * kActRows);
      for (int r = 0; r < kRows; ++r) {
        for (int a = 0; a < kActRows; ++a) {
          cpu->vec_dot(kCols, &dots[r * kActRows + a], 0, q.data() + r * row_bytes, 0, qa.data() + a * act_bytes, 0, 1);
        }
      }
      out.push_back({std::string(ggml_type_name(type)) + ".dot", "F32", {kRows, kActRows}, AsBytes(dots)});
    }
  }
  WriteSafetensors(argv[1], out, std::string("\"llama.cpp\":\"") + argv[2] + "\",\"producer\":\"tools/goldens/ggml_quant_goldens.cc\"");
  return 0;
}
