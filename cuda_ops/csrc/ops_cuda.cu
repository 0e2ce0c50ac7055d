// CUDA kernels of bias_act and upfirdn2d. They cannot be compiled on the development machine (no
// nvcc, no GPU), so they are kept thin: the arithmetic is the shared, host-tested code in
// bias_act_math.h (bias_act_element) and upfirdn2d_math.h (upfirdn2d_pixel); what is here is
// thread indexing and dtype dispatch, after the structure of NVlabs' kernels (one thread per
// element, a few elements per thread for bias_act; one thread per output pixel, grid-stride, as
// in NVlabs' generic "large" upfirdn2d kernel). Tensors arrive contiguous and checked (ops_cuda.cpp).
// Checked without a GPU by clang's CUDA front end (libclang 18 with the clang-tidy 18 wheel's
// resource headers, CUDA 12.9 headers from the nvidia-cuda-* wheels), host and device passes:
// no errors. Only a build and the tests in tests/cuda_ops on a GPU machine prove it fully.

#include <torch/types.h>
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAException.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <type_traits>

#include "bias_act_math.h"
#include "upfirdn2d_math.h"

using namespace facelatent;

namespace {

// Compute type: float for the half-precision types and float, double for double.
template <class T> struct InternalType;
template <> struct InternalType<double> { typedef double scalar_t; };
template <> struct InternalType<float> { typedef float scalar_t; };
template <> struct InternalType<c10::Half> { typedef float scalar_t; };
template <> struct InternalType<c10::BFloat16> { typedef float scalar_t; };

// ---------------------------------------------------------------------------------------------
// bias_act

struct BiasActParams {
    const void* x; const void* b; const void* xref; const void* yref; const void* dy; void* y;
    int grad;
    double alpha, gain, clamp;
    int64_t size_x, size_b, step_b;
    int loop_x;
};

template <class T, int A>
__global__ void bias_act_kernel(BiasActParams p)
{
    typedef typename InternalType<T>::scalar_t S;
    const S alpha = (S)p.alpha, gain = (S)p.gain, clamp = (S)p.clamp;
    int64_t xi = (int64_t)blockIdx.x * p.loop_x * blockDim.x + threadIdx.x;
    for (int loop = 0; loop < p.loop_x && xi < p.size_x; loop++, xi += blockDim.x) {
        const S x = (S)((const T*)p.x)[xi];
        const S b = p.b ? (S)((const T*)p.b)[(xi / p.step_b) % p.size_b] : (S)0;
        const S xref = p.xref ? (S)((const T*)p.xref)[xi] : (S)0;
        const S yref = p.yref ? (S)((const T*)p.yref)[xi] : (S)0;
        const S dy = p.dy ? (S)((const T*)p.dy)[xi] : (S)1;
        S y;
        if (p.grad == 0) y = bias_act_element<S, A, 0>(x, b, xref, yref, (S)1, alpha, gain, clamp);
        else if (p.grad == 1) y = bias_act_element<S, A, 1>(x, b, xref, yref, dy, alpha, gain, clamp);
        else y = bias_act_element<S, A, 2>(x, b, xref, yref, dy, alpha, gain, clamp);
        ((T*)p.y)[xi] = (T)y;
    }
}

template <class T>
void* choose_bias_act_kernel(int act)
{
    switch (act) {
        case ACT_LINEAR: return (void*)bias_act_kernel<T, ACT_LINEAR>;
        case ACT_RELU: return (void*)bias_act_kernel<T, ACT_RELU>;
        case ACT_LRELU: return (void*)bias_act_kernel<T, ACT_LRELU>;
        case ACT_TANH: return (void*)bias_act_kernel<T, ACT_TANH>;
        case ACT_SIGMOID: return (void*)bias_act_kernel<T, ACT_SIGMOID>;
        case ACT_ELU: return (void*)bias_act_kernel<T, ACT_ELU>;
        case ACT_SELU: return (void*)bias_act_kernel<T, ACT_SELU>;
        case ACT_SOFTPLUS: return (void*)bias_act_kernel<T, ACT_SOFTPLUS>;
        case ACT_SWISH: return (void*)bias_act_kernel<T, ACT_SWISH>;
        default: return nullptr;
    }
}

// ---------------------------------------------------------------------------------------------
// upfirdn2d

template <class T, class W>
__global__ void upfirdn2d_kernel(const T* x, const W* w, T* y, Upfirdn2dShape s, int64_t planes)
{
    typedef typename InternalType<T>::scalar_t S;
    const int64_t per_plane = s.out_h * s.out_w;
    const int64_t total = planes * per_plane;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        const int64_t plane = i / per_plane;
        const int64_t oy = (i % per_plane) / s.out_w;
        const int64_t ox = i % s.out_w;
        y[i] = (T)upfirdn2d_pixel<S, T, W>(x + plane * s.in_h * s.in_w, w, s, oy, ox);
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Launchers, called by ops_cuda.cpp after its checks.

torch::Tensor bias_act_cuda_launch(torch::Tensor x, torch::Tensor b, torch::Tensor xref, torch::Tensor yref,
                                   torch::Tensor dy, int64_t grad, int64_t step_b, int64_t act,
                                   double alpha, double gain, double clamp)
{
    torch::Tensor y = torch::empty_like(x);
    if (x.numel() == 0) return y;
    BiasActParams p;
    p.x = x.data_ptr();
    p.b = b.numel() ? b.data_ptr() : nullptr;
    p.xref = xref.numel() ? xref.data_ptr() : nullptr;
    p.yref = yref.numel() ? yref.data_ptr() : nullptr;
    p.dy = dy.numel() ? dy.data_ptr() : nullptr;
    p.y = y.data_ptr();
    p.grad = (int)grad;
    p.alpha = alpha; p.gain = gain; p.clamp = clamp;
    p.size_x = x.numel();
    p.size_b = b.numel() ? b.numel() : 1;
    p.step_b = step_b;
    p.loop_x = 4;

    void* kernel = nullptr;
    AT_DISPATCH_FLOATING_TYPES_AND2(at::ScalarType::Half, at::ScalarType::BFloat16, x.scalar_type(), "bias_act_cuda", [&] {
        kernel = choose_bias_act_kernel<scalar_t>((int)act);
    });
    TORCH_CHECK(kernel != nullptr, "bias_act: unknown activation index ", act);

    const int block = 128;
    const int64_t grid = (p.size_x - 1) / ((int64_t)p.loop_x * block) + 1;
    TORCH_CHECK(grid <= 0x7fffffff, "bias_act: tensor too large");
    void* args[] = {&p};
    C10_CUDA_CHECK(cudaLaunchKernel(kernel, dim3((unsigned)grid), dim3(block), args, 0,
                                    c10::cuda::getCurrentCUDAStream()));
    return y;
}

torch::Tensor upfirdn2d_cuda_launch(torch::Tensor x, torch::Tensor w, const Upfirdn2dShape& s)
{
    torch::Tensor y = torch::empty({x.size(0), x.size(1), s.out_h, s.out_w}, x.options());
    const int64_t planes = x.size(0) * x.size(1);
    const int64_t total = y.numel();
    if (total == 0) return y;
    const int block = 256;
    const int64_t grid = std::min<int64_t>((total + block - 1) / block, (int64_t)1 << 20);
    cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::ScalarType::Half, at::ScalarType::BFloat16, x.scalar_type(), "upfirdn2d_cuda", [&] {
        typedef typename std::conditional<std::is_same<scalar_t, double>::value, double, float>::type weight_t;
        TORCH_CHECK(w.scalar_type() == c10::CppTypeToScalarType<weight_t>::value,
                    "upfirdn2d: w must be float64 for float64 data, float32 otherwise");
        upfirdn2d_kernel<scalar_t, weight_t><<<(unsigned)grid, block, 0, stream>>>(
            x.data_ptr<scalar_t>(), w.data_ptr<weight_t>(), y.data_ptr<scalar_t>(), s, planes);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
    return y;
}
