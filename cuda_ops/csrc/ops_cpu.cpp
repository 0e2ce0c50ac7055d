// C++ CPU kernels of bias_act and upfirdn2d (float32 and float64), parallelised with
// at::parallel_for (OpenMP in PyTorch's CPU builds, honouring torch.set_num_threads) and with
// inner loops written to vectorise (-O3 -fopenmp-simd). Python side: cuda_ops/*_compiled.py.

#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "bias_act_math.h"
#include "host_checks.h"
#include "upfirdn2d_math.h"

using namespace facelatent;

namespace {

// ---------------------------------------------------------------------------------------------
// bias_act

template <typename T>
struct BiasActArgs {
    const T* x; const T* b; const T* xref; const T* yref; const T* dy; T* y;
    int64_t size_x, size_b, step_b;
    T alpha, gain, clamp;
};

// Elements [i0, i1); bias entry k of the span is bp[k * bs] (bs = 0: one bias for the span).
template <typename T, int A, int G>
inline void bias_act_span(const BiasActArgs<T>& p, int64_t i0, int64_t i1, const T* bp, int64_t bs)
{
    const T zero = 0, one = 1;
    const T* x = p.x; T* y = p.y;
    if (G == 0) {
        if (bp == nullptr) {
#pragma omp simd
            for (int64_t i = i0; i < i1; i++)
                y[i] = bias_act_element<T, A, 0>(x[i], zero, zero, zero, one, p.alpha, p.gain, p.clamp);
        } else {
#pragma omp simd
            for (int64_t i = i0; i < i1; i++)
                y[i] = bias_act_element<T, A, 0>(x[i], bp[(i - i0) * bs], zero, zero, one, p.alpha, p.gain, p.clamp);
        }
        return;
    }
    for (int64_t i = i0; i < i1; i++) {
        const T bv = bp ? bp[(i - i0) * bs] : zero;
        const T xr = p.xref ? p.xref[i] : zero;
        const T yr = p.yref ? p.yref[i] : zero;
        const T d = p.dy ? p.dy[i] : one;
        y[i] = bias_act_element<T, A, G>(x[i], bv, xr, yr, d, p.alpha, p.gain, p.clamp);
    }
}

template <typename T, int A, int G>
void bias_act_run(const BiasActArgs<T>& p)
{
    const int64_t grain = 16384;
    at::parallel_for(0, p.size_x, grain, [&](int64_t begin, int64_t end) {
        if (p.b == nullptr) { bias_act_span<T, A, G>(p, begin, end, nullptr, 0); return; }
        // Spans over which the bias index is constant (step_b > 1) or runs 0..size_b-1 (step_b == 1).
        const int64_t span = (p.step_b > 1) ? p.step_b : p.size_b;
        for (int64_t i = begin; i < end;) {
            const int64_t stop = std::min(end, (i / span + 1) * span);
            if (p.step_b > 1) bias_act_span<T, A, G>(p, i, stop, p.b + (i / p.step_b) % p.size_b, 0);
            else bias_act_span<T, A, G>(p, i, stop, p.b + i % p.size_b, 1);
            i = stop;
        }
    });
}

template <typename T, int A>
void bias_act_grad_order(const BiasActArgs<T>& p, int grad)
{
    if (grad == 0) bias_act_run<T, A, 0>(p);
    else if (grad == 1) bias_act_run<T, A, 1>(p);
    else bias_act_run<T, A, 2>(p);
}

template <typename T>
void bias_act_dispatch(const BiasActArgs<T>& p, int act, int grad)
{
    switch (act) {
        case ACT_LINEAR: bias_act_grad_order<T, ACT_LINEAR>(p, grad); break;
        case ACT_RELU: bias_act_grad_order<T, ACT_RELU>(p, grad); break;
        case ACT_LRELU: bias_act_grad_order<T, ACT_LRELU>(p, grad); break;
        case ACT_TANH: bias_act_grad_order<T, ACT_TANH>(p, grad); break;
        case ACT_SIGMOID: bias_act_grad_order<T, ACT_SIGMOID>(p, grad); break;
        case ACT_ELU: bias_act_grad_order<T, ACT_ELU>(p, grad); break;
        case ACT_SELU: bias_act_grad_order<T, ACT_SELU>(p, grad); break;
        case ACT_SOFTPLUS: bias_act_grad_order<T, ACT_SOFTPLUS>(p, grad); break;
        case ACT_SWISH: bias_act_grad_order<T, ACT_SWISH>(p, grad); break;
        default: TORCH_CHECK(false, "bias_act: unknown activation index ", act);
    }
}

// y = bias_act(x, b) (grad = 0) or one of its derivatives (grad = 1, 2); empty tensors stand for "absent".
torch::Tensor bias_act_cpu(torch::Tensor x, torch::Tensor b, torch::Tensor xref, torch::Tensor yref,
                           torch::Tensor dy, int64_t grad, int64_t dim, int64_t act, double alpha,
                           double gain, double clamp)
{
    TORCH_CHECK(x.device().is_cpu(), "bias_act: x must be a CPU tensor");
    TORCH_CHECK(x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kDouble,
                "bias_act: the CPU kernel supports float32 and float64");
    const int64_t step_b = bias_act_step(x, b, xref, yref, dy, grad, dim);
    torch::Tensor y = torch::empty_like(x);
    if (x.numel() == 0) return y;
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "bias_act_cpu", [&] {
        BiasActArgs<scalar_t> p;
        p.x = x.data_ptr<scalar_t>();
        p.b = b.numel() ? b.data_ptr<scalar_t>() : nullptr;
        p.xref = xref.numel() ? xref.data_ptr<scalar_t>() : nullptr;
        p.yref = yref.numel() ? yref.data_ptr<scalar_t>() : nullptr;
        p.dy = dy.numel() ? dy.data_ptr<scalar_t>() : nullptr;
        p.y = y.data_ptr<scalar_t>();
        p.size_x = x.numel();
        p.size_b = b.numel() ? b.size(0) : 1;
        p.step_b = step_b;
        p.alpha = (scalar_t)alpha; p.gain = (scalar_t)gain; p.clamp = (scalar_t)clamp;
        bias_act_dispatch<scalar_t>(p, (int)act, (int)grad);
    });
    return y;
}

// ---------------------------------------------------------------------------------------------
// upfirdn2d

// Along x, horizontal tap t adds w[t] * in[in0 + k*istep] to out[out0 + k*ostep], k < count.
struct Progression { int64_t tap, out0, in0, count, ostep, istep; };

std::vector<Progression> horizontal_progressions(const Upfirdn2dShape& s)
{
    std::vector<Progression> result;
    for (int64_t t = 0; t < s.fw; t++) {
        std::vector<int64_t> outs, ins;
        for (int64_t ox = 0; ox < s.out_w; ox++) {
            const int64_t p = ox * s.downx + t - s.padx0;
            if (floor_mod(p, s.upx) != 0) continue;
            const int64_t in = p / s.upx;
            if (in < 0 || in >= s.in_w) continue;
            outs.push_back(ox);
            ins.push_back(in);
        }
        if (outs.empty()) continue;
        const int64_t n = (int64_t)outs.size();
        Progression g = {t, outs[0], ins[0], n, n > 1 ? outs[1] - outs[0] : 1, n > 1 ? ins[1] - ins[0] : 1};
        result.push_back(g);
    }
    return result;
}

template <typename T, int OS, int IS>
inline void axpy_strided(T* out, const T* in, T w, int64_t n, int64_t os, int64_t is)
{
    const int64_t o = OS > 0 ? OS : os, i = IS > 0 ? IS : is;
#pragma omp simd
    for (int64_t k = 0; k < n; k++) out[k * o] += in[k * i] * w;
}

template <typename T>
inline void apply_progression(T* out, const T* row, const T* wrow, const Progression& g)
{
    T* o = out + g.out0;
    const T* in = row + g.in0;
    const T w = wrow[g.tap];
    if (g.ostep == 1 && g.istep == 1) axpy_strided<T, 1, 1>(o, in, w, g.count, 1, 1);
    else if (g.ostep == 2 && g.istep == 1) axpy_strided<T, 2, 1>(o, in, w, g.count, 2, 1);
    else if (g.ostep == 1 && g.istep == 2) axpy_strided<T, 1, 2>(o, in, w, g.count, 1, 2);
    else axpy_strided<T, 0, 0>(o, in, w, g.count, g.ostep, g.istep);
}

// Rows mode: each output row accumulates, per contributing input row, one strided axpy per tap.
template <typename T>
void upfirdn2d_rows(const T* x, const T* w, T* y, int64_t planes, const Upfirdn2dShape& s)
{
    const std::vector<Progression> progs = horizontal_progressions(s);
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, s.out_w));
    at::parallel_for(0, planes * s.out_h, grain, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; r++) {
            const int64_t plane = r / s.out_h, oy = r % s.out_h;
            const T* xp = x + plane * s.in_h * s.in_w;
            T* out = y + r * s.out_w;
            std::fill(out, out + s.out_w, (T)0);
            const TapRange ry = tap_range(oy, s.upy, s.downy, s.pady0, s.fh, s.in_h);
            for (int64_t a = 0; a < ry.count; a++) {
                const T* row = xp + (ry.in0 + a) * s.in_w;
                const T* wrow = w + (ry.tap0 + a * s.upy) * s.fw;
                for (const Progression& g : progs) apply_progression(out, row, wrow, g);
            }
        }
    });
}

// Pixel mode: every output pixel by upfirdn2d_pixel, exactly as the CUDA kernel computes it.
template <typename T>
void upfirdn2d_pixels(const T* x, const T* w, T* y, int64_t planes, const Upfirdn2dShape& s)
{
    const int64_t per_plane = s.out_h * s.out_w;
    at::parallel_for(0, planes * per_plane, 4096, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; i++) {
            const int64_t plane = i / per_plane, oy = (i % per_plane) / s.out_w, ox = i % s.out_w;
            y[i] = upfirdn2d_pixel<T, T, T>(x + plane * s.in_h * s.in_w, w, s, oy, ox);
        }
    });
}

// y = upfirdn2d(x, w) with w the correlation weights [fh, fw] (flip and gain already applied).
torch::Tensor upfirdn2d_cpu(torch::Tensor x, torch::Tensor w, int64_t upx, int64_t upy, int64_t downx,
                            int64_t downy, int64_t padx0, int64_t padx1, int64_t pady0, int64_t pady1,
                            bool pixel_mode)
{
    TORCH_CHECK(x.device().is_cpu(), "upfirdn2d: x must be a CPU tensor");
    TORCH_CHECK(x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kDouble,
                "upfirdn2d: the CPU kernel supports float32 and float64");
    TORCH_CHECK(w.dtype() == x.dtype(), "upfirdn2d: w must have x's dtype");
    const Upfirdn2dShape s = upfirdn2d_shape(x, w, upx, upy, downx, downy, padx0, padx1, pady0, pady1);
    torch::Tensor y = torch::empty({x.size(0), x.size(1), s.out_h, s.out_w}, x.options());
    const int64_t planes = x.size(0) * x.size(1);
    if (y.numel() == 0) return y;
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "upfirdn2d_cpu", [&] {
        const scalar_t* xp = x.data_ptr<scalar_t>();
        const scalar_t* wp = w.data_ptr<scalar_t>();
        scalar_t* yp = y.data_ptr<scalar_t>();
        if (pixel_mode) upfirdn2d_pixels<scalar_t>(xp, wp, yp, planes, s);
        else upfirdn2d_rows<scalar_t>(xp, wp, yp, planes, s);
    });
    return y;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m)
{
    m.def("bias_act", &bias_act_cpu, "bias_act (CPU): forward (grad=0) and derivatives (grad=1, 2)");
    m.def("upfirdn2d", &upfirdn2d_cpu, "upfirdn2d (CPU) with prepared correlation weights");
}
