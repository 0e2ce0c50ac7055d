// Host-side argument checks and geometry shared by the CPU (ops_cpu.cpp) and CUDA (ops_cuda.cpp)
// bindings; device and dtype support are checked by each binding.
#pragma once

#include <torch/extension.h>

#include "upfirdn2d_math.h"

namespace facelatent {

// An optional tensor (empty = absent) must match x in device, dtype and shape, and be contiguous.
inline void check_like(const torch::Tensor& t, const torch::Tensor& x, const char* name)
{
    if (t.numel() == 0) return;
    TORCH_CHECK(t.device() == x.device() && t.dtype() == x.dtype(), name, " must match x in device and dtype");
    TORCH_CHECK(t.sizes() == x.sizes() && t.is_contiguous(), name, " must be contiguous and shaped like x");
}

// Checks the optional tensors of bias_act; returns the number of consecutive elements of x that
// share one bias entry (the product of the sizes after dim).
inline int64_t bias_act_step(const torch::Tensor& x, const torch::Tensor& b, const torch::Tensor& xref,
                             const torch::Tensor& yref, const torch::Tensor& dy, int64_t grad, int64_t dim)
{
    TORCH_CHECK(x.is_contiguous(), "bias_act: x must be contiguous");
    TORCH_CHECK(grad >= 0 && grad <= 2, "bias_act: grad must be 0, 1 or 2");
    check_like(xref, x, "xref");
    check_like(yref, x, "yref");
    check_like(dy, x, "dy");
    int64_t step_b = 1;
    if (b.numel() > 0) {
        TORCH_CHECK(dim >= 0 && dim < x.dim(), "bias_act: dim out of range");
        TORCH_CHECK(b.device() == x.device() && b.dtype() == x.dtype(), "bias_act: b must match x in device and dtype");
        TORCH_CHECK(b.dim() == 1 && b.size(0) == x.size(dim) && b.is_contiguous(),
                    "bias_act: b must be contiguous, 1-D, with x.shape[dim] entries");
        for (int64_t i = dim + 1; i < x.dim(); i++) step_b *= x.size(i);
    }
    return step_b;
}

// Checks the arguments of upfirdn2d and computes its geometry (output size included).
inline Upfirdn2dShape upfirdn2d_shape(const torch::Tensor& x, const torch::Tensor& w, int64_t upx, int64_t upy,
                                      int64_t downx, int64_t downy, int64_t padx0, int64_t padx1,
                                      int64_t pady0, int64_t pady1)
{
    TORCH_CHECK(x.dim() == 4 && x.is_contiguous(), "upfirdn2d: x must be a contiguous 4-D tensor");
    TORCH_CHECK(w.device() == x.device() && w.dim() == 2 && w.is_contiguous(),
                "upfirdn2d: w must be contiguous [fh, fw] on x's device");
    TORCH_CHECK(upx >= 1 && upy >= 1 && downx >= 1 && downy >= 1, "upfirdn2d: up/down must be >= 1");
    Upfirdn2dShape s;
    s.in_h = x.size(2); s.in_w = x.size(3); s.fh = w.size(0); s.fw = w.size(1);
    s.upx = upx; s.upy = upy; s.downx = downx; s.downy = downy; s.padx0 = padx0; s.pady0 = pady0;
    const int64_t padded_w = s.in_w * upx + padx0 + padx1, padded_h = s.in_h * upy + pady0 + pady1;
    TORCH_CHECK(padded_w >= s.fw && padded_h >= s.fh, "upfirdn2d: the padded image is smaller than the filter");
    s.out_w = (padded_w - s.fw) / downx + 1;
    s.out_h = (padded_h - s.fh) / downy + 1;
    return s;
}

}  // namespace facelatent
