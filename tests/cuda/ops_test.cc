// The GPU forward pass's element-wise and attention kernels against the CPU runner's functions
// (lib/runner/layers.h, rope.h) on the same inputs: RMSNorm, RoPE (half-split and interleaved),
// silu·up, RoPE with the KV-cache append, causal GQA attention over a cache (one token's split
// over the keys too), arg-max. DeepSeek's
// kernels (latent attention's append, absorption, attention and value projection; the MoE gather
// and combine) against plain loops written here, and the latent attention's three kernels together
// against the CPU runner's AttendLatent.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "lib/cuda/cuda.h"
#include "lib/cuda/ops_kernels.h"
#include "lib/runner/layers.h"
#include "lib/runner/rope.h"
#include "tests/cuda/test_weights.h"

namespace quantc {
namespace {

namespace k = cuda::kernels;

class CudaOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda::DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  }
  // A device copy of v (kept alive by the fixture).
  float* Device(const std::vector<float>& v) {
    auto b = cuda::DeviceBuffer::Allocate(std::max<size_t>(4, v.size() * 4));
    EXPECT_TRUE(b.ok());
    EXPECT_TRUE(b->Upload({reinterpret_cast<const uint8_t*>(v.data()), v.size() * 4}).ok());
    buffers_.push_back(std::move(*b));
    return buffers_.back().as<float>();
  }
  std::vector<float> Host(const float* d, size_t n) {
    EXPECT_TRUE(cuda::Synchronize().ok());
    for (const auto& b : buffers_) {
      if (b.as<float>() == d) {
        std::vector<float> v(n);
        EXPECT_TRUE(b.Download({reinterpret_cast<uint8_t*>(v.data()), n * 4}).ok());
        return v;
      }
    }
    ADD_FAILURE() << "not a buffer of this test";
    return {};
  }
  // A device int32 holding `pos` (the cache length the kernels read).
  const int32_t* Position(int32_t pos) {
    auto b = cuda::DeviceBuffer::Allocate(4);
    EXPECT_TRUE(b.ok());
    EXPECT_TRUE(b->Upload({reinterpret_cast<const uint8_t*>(&pos), 4}).ok());
    buffers_.push_back(std::move(*b));
    return buffers_.back().as<int32_t>();
  }
  std::vector<cuda::DeviceBuffer> buffers_;
};

std::vector<float> Random(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// max |a - b| over max |b|.
double RelativeMaxError(const std::vector<float>& a, const std::vector<float>& b) {
  double err = 0, norm = 1e-30;
  for (size_t i = 0; i < b.size(); ++i) {
    err = std::max(err, std::fabs(double(a[i]) - b[i]));
    norm = std::max(norm, std::fabs(double(b[i])));
  }
  return err / norm;
}

TEST_F(CudaOpsTest, RmsNorm) {
  constexpr int64_t kN = 5, kWidth = 384;
  auto x = Random(kN * kWidth, 1, 3.0f), w = Random(kWidth, 2);
  std::vector<float> want(x.size());
  runner::RmsNorm(x.data(), kN, kWidth, w, 1e-6, want.data());
  float* dx = Device(x);
  ASSERT_TRUE(cuda::CheckLaunch(k::LaunchRmsNorm(dx, kN, kWidth, Device(w), 1e-6f, dx, nullptr), "rmsnorm").ok());
  EXPECT_LE(RelativeMaxError(Host(dx, x.size()), want), 1e-6);
}

TEST_F(CudaOpsTest, RopeBothLayoutsAgainstTheCpuTables) {
  for (bool interleaved : {false, true}) {
    arch::RopeSpec spec;
    spec.dim = 64;
    spec.theta = 500000.0;
    spec.interleaved = interleaved;
    runner::Rope rope(spec);
    constexpr int64_t kN = 7, kHeads = 3, kPos0 = 100;
    std::vector<float> cos, sin;
    rope.Tables(kPos0 + kN, cos, sin);
    // Heads of 80 values whose rotary part starts at 16 (as MLA's q: nope then rope).
    constexpr int64_t kHeadStride = 80, kOffset = 16;
    auto x = Random(kN * kHeads * kHeadStride, 3);
    std::vector<float> want = x;
    for (int64_t t = 0; t < kN; ++t) {
      for (int64_t h = 0; h < kHeads; ++h) rope.Apply(want.data() + (t * kHeads + h) * kHeadStride + kOffset, kPos0 + t);
    }
    float* dx = Device(x);
    ASSERT_TRUE(cuda::CheckLaunch(k::LaunchRope(dx, kN, kHeads * kHeadStride, kHeads, kHeadStride, kOffset, spec.dim,
                                                interleaved, Device(cos), Device(sin), Position(kPos0), nullptr),
                                  "rope")
                    .ok());
    EXPECT_LE(RelativeMaxError(Host(dx, x.size()), want), 1e-6) << (interleaved ? "interleaved" : "half-split");
  }
}

TEST_F(CudaOpsTest, SiluMulOfGateAndUpSideBySide) {
  constexpr int64_t kN = 3, kInter = 333;
  auto gu = Random(kN * 2 * kInter, 4);
  std::vector<float> want(kN * kInter), zeros(want.size());
  for (int64_t t = 0; t < kN; ++t) {
    for (int64_t i = 0; i < kInter; ++i) {
      const float g = gu[t * 2 * kInter + i];
      want[t * kInter + i] = g / (1.0f + std::exp(-g)) * gu[t * 2 * kInter + kInter + i];
    }
  }
  float* out = Device(zeros);
  ASSERT_TRUE(cuda::CheckLaunch(k::LaunchSiluMul(Device(gu), kN, kInter, out, nullptr), "silu").ok());
  EXPECT_LE(RelativeMaxError(Host(out, want.size()), want), 1e-6);
}

// x split into planes (kernels::LaunchSplitX) as the integer kernels read it, by its own kernel and
// beside the outputs of RMSNorm and SiLU·up: each unit of 16 values' planes rebuild x within about
// d / 508 (d = max |x| / 127 over the unit), the unit sums are the rebuilt x's, and the three
// kernels write the same bytes for the same x.
using testing_cuda::TestSplit;
TestSplit SplitOf(const std::function<int(const k::SplitOut&)>& launch, int64_t cols) {
  absl::StatusOr<TestSplit> split = testing_cuda::MakeTestSplit(cols, launch);
  EXPECT_TRUE(split.ok()) << split.status();
  return split.ok() ? std::move(*split) : TestSplit{};
}
void ExpectSplitRebuilds(const TestSplit& h, const std::vector<float>& x, const std::string& what) {
  const std::vector<double> rebuilt = h.Rebuilt();
  ASSERT_EQ(rebuilt.size(), x.size()) << what;
  for (size_t unit = 0; unit < x.size() / 16; ++unit) {
    float amax = 0;
    double sum = 0, abs = 0;
    for (size_t i = 16 * unit; i < 16 * unit + 16; ++i) {
      amax = std::max(amax, std::fabs(x[i]));
      sum += rebuilt[i], abs += std::fabs(rebuilt[i]);
    }
    const double d = amax / 127.0;
    ASSERT_NEAR(h.units[2 * unit], d / 254.0, 1e-6 * d / 254.0) << what << " unit " << unit;
    ASSERT_NEAR(h.units[2 * unit + 1], sum, 1e-6 * abs) << what << " unit " << unit;
    for (size_t i = 16 * unit; i < 16 * unit + 16; ++i) {
      // d / 508 from the planes, a little more from rounding x / d to float (|x / d| <= 127)
      ASSERT_NEAR(rebuilt[i], x[i], d / 508.0 * 1.01 + 1e-30) << what << " value " << i;
    }
  }
}

TEST_F(CudaOpsTest, NormAndSiluSplitTheirOutputAsSplitXDoes) {
  constexpr int64_t kWidth = 3584, kInter = 1120;  // hidden of the 7B shape; tiny-qwen2's FFN width
  auto x = Random(kWidth, 11, 3.0f), w = Random(kWidth, 12), gu = Random(2 * kInter, 13, 4.0f);
  std::vector<float> zeros(kWidth);
  float* normed = Device(zeros);
  const float *dx = Device(x), *dw = Device(w);
  const TestSplit by_norm = SplitOf([&](const k::SplitOut& to) {
    return k::LaunchRmsNorm(dx, 1, kWidth, dw, 1e-6f, normed, nullptr, to);
  }, kWidth);
  const TestSplit by_split = SplitOf([&](const k::SplitOut& to) { return k::LaunchSplitX(normed, kWidth, to, nullptr); },
                                     kWidth);
  const std::vector<float> normed_host = Host(normed, kWidth);
  ExpectSplitRebuilds(by_split, normed_host, "split x");
  EXPECT_EQ(by_norm.planes, by_split.planes);
  EXPECT_EQ(by_norm.units, by_split.units);

  float* h = Device(std::vector<float>(kInter));
  const float* dgu = Device(gu);
  const TestSplit by_silu = SplitOf([&](const k::SplitOut& to) {
    return k::LaunchSiluMul(dgu, 1, kInter, h, nullptr, to);
  }, kInter);
  const std::vector<float> h_host = Host(h, kInter);
  ExpectSplitRebuilds(by_silu, h_host, "silu");
  const TestSplit by_split_h = SplitOf([&](const k::SplitOut& to) { return k::LaunchSplitX(h, kInter, to, nullptr); },
                                       kInter);
  EXPECT_EQ(by_silu.planes, by_split_h.planes);
  EXPECT_EQ(by_silu.units, by_split_h.units);
  // More than one token, or a width that is not whole warps, has no split.
  EXPECT_NE(k::LaunchSiluMul(dgu, 2, kInter / 2, h, nullptr, {reinterpret_cast<uint8_t*>(h), h}), 0);
  EXPECT_NE(k::LaunchRmsNorm(dx, 1, 100, dw, 1e-6f, normed, nullptr, {reinterpret_cast<uint8_t*>(h), h}), 0);
}

TEST_F(CudaOpsTest, RopeAppendKvRotatesQInPlaceAndAppendsKAndV) {
  for (bool interleaved : {false, true}) {
    arch::RopeSpec spec;
    spec.dim = 32;  // partial rotary: the first 32 of 64 values
    spec.theta = 10000.0;
    spec.interleaved = interleaved;
    runner::Rope rope(spec);
    constexpr int64_t kN = 3, kHeads = 4, kKvHeads = 2, kHd = 64, kPos0 = 5, kCapacity = 12;
    constexpr int64_t kStride = (kHeads + 2 * kKvHeads) * kHd + 8;  // padded rows
    std::vector<float> cos, sin;
    rope.Tables(kCapacity, cos, sin);
    auto qkv = Random(kN * kStride, 21);
    std::vector<float> want_q = qkv, cache(kCapacity * kKvHeads * kHd, -1.0f), want_k = cache, want_v = cache;
    for (int64_t t = 0; t < kN; ++t) {
      for (int64_t h = 0; h < kHeads; ++h) rope.Apply(want_q.data() + t * kStride + h * kHd, kPos0 + t);
      std::vector<float> k(qkv.begin() + t * kStride + kHeads * kHd, qkv.begin() + t * kStride + (kHeads + kKvHeads) * kHd);
      for (int64_t h = 0; h < kKvHeads; ++h) rope.Apply(k.data() + h * kHd, kPos0 + t);
      for (int64_t j = 0; j < kKvHeads * kHd; ++j) {
        want_k[(kPos0 + t) * kKvHeads * kHd + j] = k[j];
        want_v[(kPos0 + t) * kKvHeads * kHd + j] = qkv[t * kStride + (kHeads + kKvHeads) * kHd + j];
      }
    }
    float* dq = Device(qkv);
    float* dk = Device(cache);
    float* dv = Device(cache);
    ASSERT_TRUE(cuda::CheckLaunch(k::LaunchRopeAppendKv(dq, kN, kStride, kHeads, kKvHeads, kHd, spec.dim, interleaved,
                                                        Device(cos), Device(sin), Position(kPos0), dk, dv, nullptr),
                                  "rope").ok());
    EXPECT_LE(RelativeMaxError(Host(dq, qkv.size()), want_q), 1e-6) << interleaved;
    EXPECT_LE(RelativeMaxError(Host(dk, cache.size()), want_k), 1e-6) << interleaved;
    EXPECT_EQ(Host(dv, cache.size()), want_v) << interleaved;
  }
}

TEST_F(CudaOpsTest, ArgmaxTakesTheFirstLargest) {
  auto x = Random(100003, 6);
  x[777] = 50.0f, x[90001] = 50.0f;
  std::vector<float> slot(1), scratch(k::kArgmaxScratch);
  float* out = Device(slot);
  k::ArgmaxTo to;
  to.ids = reinterpret_cast<int32_t*>(out);
  ASSERT_TRUE(cuda::CheckLaunch(k::LaunchArgmax(Device(x), static_cast<int64_t>(x.size()), Device(scratch), to, nullptr),
                                "argmax").ok());
  const std::vector<float> got = Host(out, 1);
  int32_t index;
  std::memcpy(&index, got.data(), 4);
  EXPECT_EQ(index, 777);

  // A decode step's (positions 5 .. 7): the token after them, at ids[8], and the next position.
  std::vector<float> words(12, 0.0f);  // ids [0, 10), then the step's position, then the next one
  const int32_t pos = 5;
  std::memcpy(&words[10], &pos, 4);
  float* w = Device(words);
  to.ids = reinterpret_cast<int32_t*>(w), to.pos = to.ids + 10, to.n = 3, to.step = to.ids + 11;
  ASSERT_TRUE(cuda::CheckLaunch(k::LaunchArgmax(Device(x), static_cast<int64_t>(x.size()), Device(scratch), to, nullptr),
                                "argmax").ok());
  std::vector<int32_t> after(words.size());
  std::memcpy(after.data(), Host(w, words.size()).data(), words.size() * 4);
  EXPECT_EQ(after, std::vector<int32_t>({0, 0, 0, 0, 0, 0, 0, 0, 777, 0, 5, 8}));
}

// Head sizes 64 and 128 (the grouped kernel), with a q row stride wider than q (q/k/v side by side).
TEST_F(CudaOpsTest, CausalGroupedAttentionCommonHeadSizes) {
  for (int64_t dk : {64, 128}) {
    constexpr int64_t kN = 5, kPos0 = 37, kHeads = 6, kKvHeads = 2, kT = kPos0 + kN;
    const int64_t stride = (kHeads + 2 * kKvHeads) * dk;
    auto qkv = Random(kN * stride, 30 + dk), kk = Random(kT * kKvHeads * dk, 31), v = Random(kT * kKvHeads * dk, 32);
    std::vector<float> q(kN * kHeads * dk);
    for (int64_t t = 0; t < kN; ++t) std::copy_n(qkv.begin() + t * stride, kHeads * dk, q.begin() + t * kHeads * dk);
    const float scale = 1.0f / std::sqrt(float(dk));
    std::vector<float> want(kN * kHeads * dk), zeros(want.size());
    runner::Attend(q.data(), kk.data(), v.data(), kN, kPos0, kHeads, kKvHeads, dk, dk, scale, want.data());
    float* out = Device(zeros);
    ASSERT_TRUE(cuda::CheckLaunch(k::LaunchAttend(Device(qkv), stride, Device(kk), Device(v), kN, Position(kPos0), kHeads,
                                                  kKvHeads, dk, dk, scale, out, nullptr),
                                  "attend").ok());
    EXPECT_LE(RelativeMaxError(Host(out, want.size()), want), 1e-5) << dk;
  }
}

// One token with the keys split over kAttendSplits thread blocks a head, merged by the last: from
// a short cache (only the first block has keys) to one where every block takes several tiles,
// launched twice on the same parts (the counters must come back to zero), and the output's split
// the bytes LaunchSplitX makes of it.
TEST_F(CudaOpsTest, OneTokenAttentionSplitOverKeysEqualsTheCpus) {
  for (int64_t dk : {64, 128, 256}) {
    for (int64_t pos0 : {0, 9, 16 * k::kAttendSplits + 3, 700}) {
      constexpr int64_t kHeads = 6, kKvHeads = 2;
      const int64_t stride = (kHeads + 2 * kKvHeads) * dk, t_len = pos0 + 1;
      auto qkv = Random(stride, 50 + dk), kk = Random(t_len * kKvHeads * dk, 51), v = Random(t_len * kKvHeads * dk, 52);
      const std::vector<float> q(qkv.begin(), qkv.begin() + kHeads * dk);
      const float scale = 1.0f / std::sqrt(float(dk));
      std::vector<float> want(kHeads * dk);
      runner::Attend(q.data(), kk.data(), v.data(), 1, pos0, kHeads, kKvHeads, dk, dk, scale, want.data());
      float* out = Device(std::vector<float>(want.size()));
      const k::AttendParts parts{Device(std::vector<float>(k::AttendPartFloats(kHeads, dk))),
                                 reinterpret_cast<uint32_t*>(Device(std::vector<float>(kHeads, 0.0f)))};
      const float *dq = Device(qkv), *dk_cache = Device(kk), *dv_cache = Device(v);
      const int32_t* pos = Position(static_cast<int32_t>(pos0));
      for (int launch = 0; launch < 2; ++launch) {
        const TestSplit split = SplitOf([&](const k::SplitOut& to) {
          return k::LaunchAttend(dq, stride, dk_cache, dv_cache, 1, pos, kHeads, kKvHeads, dk, dk, scale, out, nullptr,
                                 parts, to);
        }, kHeads * dk);
        const std::vector<float> got = Host(out, want.size());
        EXPECT_LE(RelativeMaxError(got, want), 1e-5) << dk << " at " << pos0 << ", launch " << launch;
        const TestSplit by_split_x =
            SplitOf([&](const k::SplitOut& to) { return k::LaunchSplitX(out, kHeads * dk, to, nullptr); }, kHeads * dk);
        EXPECT_EQ(split.planes, by_split_x.planes);
        EXPECT_EQ(split.units, by_split_x.units);
      }
    }
  }
}

TEST_F(CudaOpsTest, CausalGroupedAttention) {
  // 6 new queries after 50 cached positions; 8 heads over 2 KV heads; dk 48, dv 32 (MLA-like).
  constexpr int64_t kN = 6, kPos0 = 50, kHeads = 8, kKvHeads = 2, kDk = 48, kDv = 32, kT = kPos0 + kN;
  auto q = Random(kN * kHeads * kDk, 7), kk = Random(kT * kKvHeads * kDk, 8), v = Random(kT * kKvHeads * kDv, 9);
  const float scale = 1.0f / std::sqrt(float(kDk));
  std::vector<float> want(kN * kHeads * kDv);
  runner::Attend(q.data(), kk.data(), v.data(), kN, kPos0, kHeads, kKvHeads, kDk, kDv, scale, want.data());
  std::vector<float> zeros(want.size());
  float* out = Device(zeros);
  ASSERT_TRUE(cuda::CheckLaunch(k::LaunchAttend(Device(q), kHeads * kDk, Device(kk), Device(v), kN, Position(kPos0), kHeads,
                                                kKvHeads, kDk, kDv, scale, out, nullptr),
                                "attend")
                  .ok());
  EXPECT_LE(RelativeMaxError(Host(out, want.size()), want), 1e-5);
}

TEST_F(CudaOpsTest, RmsNormStridedReadsAndWritesInsideWiderRows) {
  constexpr int64_t kN = 4, kWidth = 96, kXStride = 200, kOutStride = 130;
  auto x = Random(kN * kXStride, 40, 2.0f), w = Random(kWidth, 41);
  std::vector<float> out(kN * kOutStride, -7.0f), want = out;
  for (int64_t t = 0; t < kN; ++t) {
    std::vector<float> row(x.begin() + t * kXStride, x.begin() + t * kXStride + kWidth);
    runner::RmsNorm(row.data(), 1, kWidth, w, 1e-6, want.data() + t * kOutStride);
  }
  float* dout = Device(out);
  ASSERT_TRUE(cuda::CheckLaunch(
                  k::LaunchRmsNormStrided(Device(x), kXStride, kN, kWidth, Device(w), 1e-6f, dout, kOutStride, nullptr),
                  "rmsnorm")
                  .ok());
  EXPECT_LE(RelativeMaxError(Host(dout, out.size()), want), 1e-6);
}

// kv_a's output [latent | k_pe] inside wider rows: the latent normalized and k_pe rotated into the
// cache rows pos0 .. pos0 + n - 1, the other rows untouched; as the CPU runner's MlaAttention does
// with RmsNorm and Rope::Apply.
TEST_F(CudaOpsTest, MlaAppendLatentNormalizesAndRotatesIntoTheCache) {
  for (bool interleaved : {true, false}) {
    arch::RopeSpec spec;
    spec.dim = 16;
    spec.theta = 10000.0;
    spec.interleaved = interleaved;
    runner::Rope rope(spec);
    constexpr int64_t kN = 5, kLora = 72, kPos0 = 9, kCapacity = 16, kStride = 40 + kLora + 16;
    constexpr int64_t kWidth = kLora + 16, kAt = 40;  // kv_a's part starts at column 40 of each row
    std::vector<float> cos, sin;
    rope.Tables(kCapacity, cos, sin);
    auto rows = Random(kN * kStride, 42, 3.0f), norm = Random(kLora, 43);
    std::vector<float> cache(kCapacity * kWidth, -1.0f), want = cache;
    for (int64_t t = 0; t < kN; ++t) {
      const float* kva = rows.data() + t * kStride + kAt;
      float* out = want.data() + (kPos0 + t) * kWidth;
      runner::RmsNorm(kva, 1, kLora, norm, 1e-6, out);
      std::copy_n(kva + kLora, 16, out + kLora);
      rope.Apply(out + kLora, kPos0 + t);
    }
    const float* drows = Device(rows);
    float* dcache = Device(cache);
    ASSERT_TRUE(cuda::CheckLaunch(
                    k::LaunchMlaAppendLatent(drows + kAt, kN, kStride, kLora, 16, Device(norm), 1e-6f, interleaved,
                                             Device(cos), Device(sin), Position(kPos0), dcache, nullptr),
                    "append")
                    .ok());
    EXPECT_LE(RelativeMaxError(Host(dcache, cache.size()), want), 1e-6) << interleaved;
  }
}

// 11 tokens (a partial chunk of the 8 a block takes) and kv_lora 300 (a partial column block).
TEST_F(CudaOpsTest, MlaAbsorbQueryFoldsTheKeyRowsIntoTheQuery) {
  constexpr int64_t kN = 11, kHeads = 3, kNope = 32, kRope = 16, kLora = 300, kQk = kNope + kRope;
  constexpr int64_t kStride = kHeads * kQk + 24, kWidth = kLora + kRope;
  auto q = Random(kN * kStride, 44), w_k = Random(kHeads * kNope * kLora, 45);
  std::vector<float> want(kN * kHeads * kWidth), zeros(want.size());
  for (int64_t t = 0; t < kN; ++t) {
    for (int64_t h = 0; h < kHeads; ++h) {
      const float* qh = q.data() + t * kStride + h * kQk;
      float* out = want.data() + (t * kHeads + h) * kWidth;
      for (int64_t c = 0; c < kLora; ++c) {
        float s = 0;
        for (int64_t d = 0; d < kNope; ++d) s += qh[d] * w_k[(h * kNope + d) * kLora + c];
        out[c] = s;
      }
      std::copy_n(qh + kNope, kRope, out + kLora);
    }
  }
  float* out = Device(zeros);
  ASSERT_TRUE(cuda::CheckLaunch(k::LaunchMlaAbsorbQuery(Device(q), kStride, kN, kHeads, kNope, kRope, kLora,
                                                        Device(w_k), out, nullptr),
                                "absorb")
                  .ok());
  EXPECT_LE(RelativeMaxError(Host(out, want.size()), want), 1e-5);
}

// Plain two-pass causal softmax over the cache rows; kv_lora 512 (the kernel's limit) and 72 (not
// whole warps of dims), with fewer keys than warps for the first query of a fresh cache.
TEST_F(CudaOpsTest, AttendLatentOverTheCacheRows) {
  for (int64_t lora : {72, 512}) {
    for (int64_t pos0 : {0, 37}) {
      constexpr int64_t kN = 6, kHeads = 5, kRope = 16;
      const int64_t width = lora + kRope, keys = pos0 + kN;
      auto q = Random(kN * kHeads * width, 46, 0.2f), cache = Random(keys * width, 47);
      const float scale = 0.13f;
      std::vector<float> want(kN * kHeads * lora), zeros(want.size());
      for (int64_t t = 0; t < kN; ++t) {
        for (int64_t h = 0; h < kHeads; ++h) {
          const float* qh = q.data() + (t * kHeads + h) * width;
          std::vector<double> p(pos0 + t + 1);
          double top = -INFINITY, sum = 0;
          for (int64_t j = 0; j <= pos0 + t; ++j) {
            double s = 0;
            for (int64_t d = 0; d < width; ++d) s += double(qh[d]) * cache[j * width + d];
            p[j] = s * scale;
            top = std::max(top, p[j]);
          }
          for (double& x : p) sum += (x = std::exp(x - top));
          for (int64_t c = 0; c < lora; ++c) {
            double o = 0;
            for (int64_t j = 0; j <= pos0 + t; ++j) o += p[j] / sum * cache[j * width + c];
            want[(t * kHeads + h) * lora + c] = static_cast<float>(o);
          }
        }
      }
      float* out = Device(zeros);
      ASSERT_TRUE(cuda::CheckLaunch(k::LaunchAttendLatent(Device(q), Device(cache), kN, Position(pos0), kHeads, lora,
                                                          kRope, scale, out, nullptr),
                                    "attend latent")
                      .ok());
      EXPECT_LE(RelativeMaxError(Host(out, want.size()), want), 1e-5) << lora << " " << pos0;
    }
  }
  EXPECT_NE(k::LaunchAttendLatent(nullptr, nullptr, 1, nullptr, 1, 544, 16, 1.0f, nullptr, nullptr), 0);
}

TEST_F(CudaOpsTest, MlaProjectValuesAppliesEachHeadsValueRows) {
  constexpr int64_t kN = 9, kHeads = 3, kLora = 70, kV = 300;
  auto ctx = Random(kN * kHeads * kLora, 48), w_vt = Random(kHeads * kLora * kV, 49);
  std::vector<float> want(kN * kHeads * kV), zeros(want.size());
  for (int64_t t = 0; t < kN; ++t) {
    for (int64_t h = 0; h < kHeads; ++h) {
      for (int64_t e = 0; e < kV; ++e) {
        float s = 0;
        for (int64_t c = 0; c < kLora; ++c) s += w_vt[(h * kLora + c) * kV + e] * ctx[(t * kHeads + h) * kLora + c];
        want[t * kHeads * kV + h * kV + e] = s;
      }
    }
  }
  float* out = Device(zeros);
  ASSERT_TRUE(cuda::CheckLaunch(
                  k::LaunchMlaProjectValues(Device(ctx), kN, kHeads, kLora, kV, Device(w_vt), out, nullptr), "values")
                  .ok());
  EXPECT_LE(RelativeMaxError(Host(out, want.size()), want), 1e-5);
}

// Absorb, attend and project together equal the CPU runner's AttendLatent on the same q, latent
// cache and kv_b (dk = nope + rope = 48 != dv = 40).
TEST_F(CudaOpsTest, LatentAttentionKernelsMatchTheCpuRunner) {
  constexpr int64_t kN = 7, kPos0 = 20, kHeads = 4, kNope = 32, kRope = 16, kV = 40, kLora = 64;
  constexpr int64_t kQk = kNope + kRope, kT = kPos0 + kN, kWidth = kLora + kRope;
  auto q = Random(kN * kHeads * kQk, 50), latent = Random(kT * kLora, 51), k_pe = Random(kT * kRope, 52);
  auto kv_b = Random(kHeads * (kNope + kV) * kLora, 53, 0.2f);
  const float scale = 1.0f / std::sqrt(float(kQk));
  std::vector<float> want(kN * kHeads * kV);
  runner::AttendLatent({kHeads, kNope, kRope, kV, kLora, scale}, q.data(), latent.data(), k_pe.data(), kv_b.data(), kN,
                       kPos0, want.data());
  std::vector<float> cache(kT * kWidth), w_k(kHeads * kNope * kLora), w_vt(kHeads * kLora * kV);
  for (int64_t j = 0; j < kT; ++j) {
    std::copy_n(latent.begin() + j * kLora, kLora, cache.begin() + j * kWidth);
    std::copy_n(k_pe.begin() + j * kRope, kRope, cache.begin() + j * kWidth + kLora);
  }
  for (int64_t h = 0; h < kHeads; ++h) {
    const float* head = kv_b.data() + h * (kNope + kV) * kLora;
    std::copy_n(head, kNope * kLora, w_k.begin() + h * kNope * kLora);
    for (int64_t e = 0; e < kV; ++e) {
      for (int64_t c = 0; c < kLora; ++c) w_vt[(h * kLora + c) * kV + e] = head[(kNope + e) * kLora + c];
    }
  }
  std::vector<float> q_abs(kN * kHeads * kWidth), ctx(kN * kHeads * kLora), out(want.size());
  float* dq_abs = Device(q_abs);
  float* dctx = Device(ctx);
  float* dout = Device(out);
  const float* dcache = Device(cache);
  ASSERT_TRUE(cuda::CheckLaunch(k::LaunchMlaAbsorbQuery(Device(q), kHeads * kQk, kN, kHeads, kNope, kRope, kLora,
                                                        Device(w_k), dq_abs, nullptr),
                                "absorb")
                  .ok());
  ASSERT_TRUE(cuda::CheckLaunch(k::LaunchAttendLatent(dq_abs, dcache, kN, Position(kPos0), kHeads, kLora, kRope, scale,
                                                      dctx, nullptr),
                                "attend latent")
                  .ok());
  ASSERT_TRUE(
      cuda::CheckLaunch(k::LaunchMlaProjectValues(dctx, kN, kHeads, kLora, kV, Device(w_vt), dout, nullptr), "values")
          .ok());
  EXPECT_LE(RelativeMaxError(Host(dout, out.size()), want), 1e-5);
}

TEST_F(CudaOpsTest, GatherRowsCopiesTheListedRows) {
  constexpr int64_t kRows = 6, kWidth = 33;
  auto x = Random(kRows * kWidth, 54);
  const std::vector<int32_t> rows = {4, 0, 4, 5, 2};
  std::vector<float> want, zeros(rows.size() * kWidth);
  for (int32_t r : rows) want.insert(want.end(), x.begin() + r * kWidth, x.begin() + (r + 1) * kWidth);
  std::vector<float> row_bits(rows.size());
  std::memcpy(row_bits.data(), rows.data(), rows.size() * 4);
  float* out = Device(zeros);
  ASSERT_TRUE(
      cuda::CheckLaunch(k::LaunchGatherRows(Device(x), kWidth, reinterpret_cast<const int32_t*>(Device(row_bits)),
                                            static_cast<int64_t>(rows.size()), out, nullptr),
                        "gather")
          .ok());
  EXPECT_EQ(Host(out, want.size()), want);
}

// Each token's routed rows weighted and summed in slot order, then the shared experts' row, then
// added to x; a negative slot adds nothing.
TEST_F(CudaOpsTest, MoeCombineAddsWeightedExpertsAndSharedToTheResidual) {
  constexpr int64_t kN = 3, kTopK = 2, kWidth = 70, kRouted = 6;
  auto routed = Random(kRouted * kWidth, 55), shared = Random(kN * kWidth, 56), x = Random(kN * kWidth, 57);
  const std::vector<int32_t> slots = {3, 0, 5, -1, 1, 4};
  const std::vector<float> weights = {0.7f, 1.9f, 0.25f, 3.0f, 1.1f, 0.4f};
  for (bool with_shared : {true, false}) {
    std::vector<float> want = x;
    for (int64_t t = 0; t < kN; ++t) {
      for (int64_t d = 0; d < kWidth; ++d) {
        float sum = 0.0f;
        for (int64_t k = 0; k < kTopK; ++k) {
          const int32_t slot = slots[t * kTopK + k];
          if (slot >= 0) sum += weights[t * kTopK + k] * routed[slot * kWidth + d];
        }
        if (with_shared) sum += shared[t * kWidth + d];
        want[t * kWidth + d] += sum;
      }
    }
    std::vector<float> slot_bits(slots.size());
    std::memcpy(slot_bits.data(), slots.data(), slots.size() * 4);
    float* dx = Device(x);
    ASSERT_TRUE(
        cuda::CheckLaunch(
            k::LaunchMoeCombine(Device(routed), reinterpret_cast<const int32_t*>(Device(slot_bits)), Device(weights),
                                kN, kTopK, kWidth, with_shared ? Device(shared) : nullptr, dx, nullptr),
            "combine")
            .ok());
    EXPECT_LE(RelativeMaxError(Host(dx, x.size()), want), 1e-6) << with_shared;
  }
}

}  // namespace
}  // namespace quantc
