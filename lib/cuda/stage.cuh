// Staging a thread block's weight rows in shared memory (matmul_kernels.cu's staged kernels): one
// bulk copy (TMA, cp.async.bulk) of the block's rows, contiguous as rows are back to back, issued by
// one thread before the wait for the previous kernel (the weights depend on nothing) and completed
// on an mbarrier. The copy's bytes are in flight without holding registers, so a thread block
// streams as much as its shared memory holds, where loads into registers are bounded by them.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "lib/cuda/launch.cuh"

namespace quantc::cuda::kernels {

__device__ __forceinline__ uint32_t SharedAddress(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
// Thread 0 starts the copy of `bytes` (a multiple of 16) from `from` (16-byte aligned) into `to`,
// completing on `bar`.
__device__ __forceinline__ void StartBulkCopy(uint8_t* to, const uint8_t* from, uint32_t bytes, uint64_t* bar) {
  if (threadIdx.x != 0) return;
  const uint32_t b = SharedAddress(bar);
  asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(b) : "memory");
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(b), "r"(bytes) : "memory");
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];"
               ::"r"(SharedAddress(to)), "l"(from), "r"(bytes), "r"(b) : "memory");
}
__device__ __forceinline__ void WaitBulkCopy(uint64_t* bar) {
  asm volatile(
      "{\n .reg .pred done;\n WAIT_%=:\n"
      " mbarrier.try_wait.parity.shared::cta.b64 done, [%0], 0;\n @!done bra WAIT_%=;\n}"
      ::"r"(SharedAddress(bar)) : "memory");
}
// Bytes [begin, end) of the weights in `stage` (kStageSlack more than end − begin), copied as the
// 16-byte aligned range around them (weight buffers have 16 bytes of slack past their end:
// cuda.cc's UploadWeight); also waits for the previous kernel. Every thread calls it; returns
// where `begin` landed.
constexpr int kStageSlack = 32;
__device__ __forceinline__ const uint8_t* StageBytes(const void* w, int64_t begin, int64_t end, uint8_t* stage) {
  __shared__ uint64_t bar;
  const int64_t lo = begin & ~int64_t{15}, hi = (end + 15) & ~int64_t{15};
  StartBulkCopy(stage, static_cast<const uint8_t*>(w) + lo, static_cast<uint32_t>(hi - lo), &bar);
  __syncthreads();
  StartAfterPrevious();
  WaitBulkCopy(&bar);
  return stage + (begin - lo);
}

__device__ __forceinline__ uint4 LoadShared16(const uint8_t* p) {
  uint4 v;
  asm("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "r"(static_cast<uint32_t>(__cvta_generic_to_shared(p))));
  return v;
}

}  // namespace quantc::cuda::kernels
