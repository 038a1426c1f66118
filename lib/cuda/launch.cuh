// Programmatic dependent launch (Hopper's griddepcontrol), for the chain of small kernels of a
// decode step. A kernel launched the usual way starts when the one before it in the stream has
// finished: every kernel pays its launch and ramp-up (2-3 us on H100, about 270 kernels a 7B
// token) with the GPU partly idle. LaunchEarly lets the next kernel's blocks start on the SMs the
// running one leaves free; they wait in WaitForPrevious until it has finished and its writes are
// visible. (Fetching the weights into L2 before that wait was tried: 0.8-7% slower at the 7B
// shape, whatever the amount.)
//
// The contract, for every kernel LaunchEarly starts: it reads and writes nothing that an earlier
// kernel of the stream writes or reads before it calls WaitForPrevious (weights, which nothing
// writes, are fine). A kernel started the usual way after one started early waits for it as ever.
#pragma once

#include <cuda_runtime.h>

namespace quantc::cuda::kernels {

// Lets the next kernel of the stream be scheduled once every block of this one has called it (or
// exited). Called first: the next kernel then takes only SMs this one no longer needs.
__device__ __forceinline__ void AllowNextToStart() { asm volatile("griddepcontrol.launch_dependents;" ::: "memory"); }
// Returns once the kernel before (and so every earlier one) has finished, its writes visible. A
// no-op for a kernel started the usual way.
__device__ __forceinline__ void WaitForPrevious() { asm volatile("griddepcontrol.wait;" ::: "memory"); }
// Both, at the top of a kernel whose first reads are the previous kernel's output.
__device__ __forceinline__ void StartAfterPrevious() {
  AllowNextToStart();
  WaitForPrevious();
}

// Whether LaunchEarly starts kernels early (SetEarlyLaunch in matmul_kernels.h; default true).
bool EarlyLaunch();

// kernel<<<grid, block, shared, stream>>>(args...), started early (see above) when EarlyLaunch().
// Returns the CUDA error code of the launch.
template <class... Params, class... Args>
int LaunchEarly(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared, cudaStream_t stream, Args... args) {
  cudaLaunchAttribute early;
  early.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  early.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config = {};
  config.gridDim = grid, config.blockDim = block, config.dynamicSmemBytes = shared, config.stream = stream;
  config.attrs = &early, config.numAttrs = EarlyLaunch() ? 1 : 0;
  return static_cast<int>(cudaLaunchKernelEx(&config, kernel, static_cast<Params>(args)...));
}

}  // namespace quantc::cuda::kernels
