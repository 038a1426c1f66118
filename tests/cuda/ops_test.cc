// The GPU forward pass's element-wise and attention kernels against the CPU runner's functions
// (lib/runner/layers.h, rope.h) on the same inputs: RMSNorm, RoPE (half-split and interleaved),
// silu·up, RoPE with the KV-cache append, causal GQA attention over a cache, arg-max.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "lib/cuda/cuda.h"
#include "lib/cuda/ops_kernels.h"
#include "lib/runner/layers.h"
#include "lib/runner/rope.h"

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
  ASSERT_TRUE(cuda::CheckLaunch(k::LaunchArgmax(Device(x), static_cast<int64_t>(x.size()), Device(scratch),
                                                reinterpret_cast<int32_t*>(out), nullptr), "argmax").ok());
  const std::vector<float> got = Host(out, 1);
  int32_t index;
  std::memcpy(&index, got.data(), 4);
  EXPECT_EQ(index, 777);
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

}  // namespace
}  // namespace quantc
