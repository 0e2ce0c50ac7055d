// Python bindings of the CUDA kernels (ops_cuda.cu): argument checks, device guard, geometry.
// Same signatures as the CPU module (ops_cpu.cpp), so cuda_ops/*_compiled.py drive both alike.

#include <torch/extension.h>
#include <c10/cuda/CUDAGuard.h>

#include "host_checks.h"

using facelatent::Upfirdn2dShape;

torch::Tensor bias_act_cuda_launch(torch::Tensor x, torch::Tensor b, torch::Tensor xref, torch::Tensor yref,
                                   torch::Tensor dy, int64_t grad, int64_t step_b, int64_t act,
                                   double alpha, double gain, double clamp);
torch::Tensor upfirdn2d_cuda_launch(torch::Tensor x, torch::Tensor w, const Upfirdn2dShape& s);

namespace {

torch::Tensor bias_act(torch::Tensor x, torch::Tensor b, torch::Tensor xref, torch::Tensor yref,
                       torch::Tensor dy, int64_t grad, int64_t dim, int64_t act, double alpha,
                       double gain, double clamp)
{
    TORCH_CHECK(x.is_cuda(), "bias_act: x must be a CUDA tensor");
    const int64_t step_b = facelatent::bias_act_step(x, b, xref, yref, dy, grad, dim);
    const c10::cuda::OptionalCUDAGuard guard(x.device());
    return bias_act_cuda_launch(x, b, xref, yref, dy, grad, step_b, act, alpha, gain, clamp);
}

torch::Tensor upfirdn2d(torch::Tensor x, torch::Tensor w, int64_t upx, int64_t upy, int64_t downx,
                        int64_t downy, int64_t padx0, int64_t padx1, int64_t pady0, int64_t pady1,
                        bool /*pixel_mode: the CUDA kernel always works per pixel*/)
{
    TORCH_CHECK(x.is_cuda(), "upfirdn2d: x must be a CUDA tensor");
    const Upfirdn2dShape s = facelatent::upfirdn2d_shape(x, w, upx, upy, downx, downy, padx0, padx1, pady0, pady1);
    const c10::cuda::OptionalCUDAGuard guard(x.device());
    return upfirdn2d_cuda_launch(x, w, s);
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m)
{
    m.def("bias_act", &bias_act, "bias_act (CUDA): forward (grad=0) and derivatives (grad=1, 2)");
    m.def("upfirdn2d", &upfirdn2d, "upfirdn2d (CUDA) with prepared correlation weights");
}
