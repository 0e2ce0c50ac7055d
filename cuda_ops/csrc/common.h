// Shared by the C++ CPU and the CUDA kernels: one definition of the per-element and per-pixel math,
// compiled for the host by ops_cpu.cpp (and exercised by the tests there) and for the device by ops_cuda.cu.
#pragma once

#include <math.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define FL_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define FL_HOST_DEVICE inline
#endif

namespace facelatent {

FL_HOST_DEVICE float fl_exp(float v) { return expf(v); }
FL_HOST_DEVICE double fl_exp(double v) { return exp(v); }
FL_HOST_DEVICE float fl_expm1(float v) { return expm1f(v); }
FL_HOST_DEVICE double fl_expm1(double v) { return expm1(v); }
FL_HOST_DEVICE float fl_log1p(float v) { return log1pf(v); }
FL_HOST_DEVICE double fl_log1p(double v) { return log1p(v); }
FL_HOST_DEVICE float fl_tanh(float v) { return tanhf(v); }
FL_HOST_DEVICE double fl_tanh(double v) { return tanh(v); }

}  // namespace facelatent
