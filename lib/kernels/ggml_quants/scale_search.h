// The scale searches shared by ggml's quantizers (ggml-quants.c: nearest_int, make_qx_quants,
// make_q3_quants, make_qkx2_quants, make_qkx3_quants, make_qp_quants). Each fits the codes and the
// scale (and offset) of one small group of weights; byte-exact results depend on doing the same
// float operations in the same order as llama.cpp, so these are scalar and compiled with
// -ffp-contract=off. The block quantizers (q*_k.cc, legacy.cc, iq4.cc) compose them.
#pragma once

#include <cstdint>

namespace quantc::kernels::ggml_quants {

// Values below this magnitude count as zero in the searches (ggml GROUP_MAX_EPS).
inline constexpr float kGroupMaxEps = 1e-15f;

// Round half to even via the 1.5 * 2^23 trick; |x| <= 4194303 (ggml nearest_int).
int NearestInt(float x);

// Symmetric fit, codes in [-nmax, nmax) stored as L[i] = code + nmax; returns the scale
// (0 for an all-zero group). rmse_type selects the default weights when `weights` is null
// (make_qx_quants). 
float FitSymmetric(int n, int nmax, const float* x, int8_t* L, int rmse_type, const float* weights);

// Symmetric fit with coordinate-descent refinement, weights x^2 (make_q3_quants).
float FitSymmetricIterative(int n, int nmax, const float* x, int8_t* L, bool do_rmse);

// Asymmetric "scale + min" fit over a grid of candidate inverse scales
// iscale = (rmin + rdelta * k + nmax) / (max - min), k = 0..nstep; MAD or squared error.
// Returns the scale; *neg_min receives -min (>= 0). Laux is scratch of n codes (make_qkx2_quants).
float FitScaleMin(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* neg_min,
                  uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad);

// As FitScaleMin, with weights defaulting to x^2 when null and the grid starting from the
// search's own initial codes (make_qkx3_quants).
float FitScaleMinWeighted(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                          float* neg_min, uint8_t* Laux, float rmin, float rdelta, int nstep,
                          bool use_mad);

// Non-negative values to codes 0..nmax with a weighted least-squares super-scale
// (make_qp_quants; codes the sub-block scales and mins of Q2_K/Q4_K/Q5_K under an imatrix).
float FitPositive(int n, int nmax, const float* x, uint8_t* L, const float* weights);

}  // namespace quantc::kernels::ggml_quants
