// upfirdn2d index arithmetic and the one-output-pixel definition, shared by the CPU and CUDA kernels.
//
// Conventions: the kernels correlate (no flip) with a prepared weight w[fh][fw] that already
// holds the flip and the gain (cuda_ops/upfirdn2d_compiled.py makes it). Along one axis, output
// o reads the zero-stuffed, padded input at p = o * down + t - pad0 for tap t in [0, taps); that
// is a real input sample i = p / up when p % up == 0 and 0 <= i < in_size.
#pragma once

#include "common.h"

namespace facelatent {

struct TapRange {
    int64_t in0;    // first input index that reaches the output
    int64_t tap0;   // the tap that reads it; the next input is read by tap0 + up, and so on
    int64_t count;  // how many input samples reach the output (0 if none)
};

FL_HOST_DEVICE int64_t floor_mod(int64_t a, int64_t m) { int64_t r = a % m; return r < 0 ? r + m : r; }

// The input samples that reach output o along one axis.
FL_HOST_DEVICE TapRange tap_range(int64_t o, int64_t up, int64_t down, int64_t pad0, int64_t taps, int64_t in_size)
{
    const int64_t p0 = o * down - pad0;       // padded position read by tap 0
    int64_t tap = floor_mod(-p0, up);         // first tap that lands on a real (non-stuffed) sample
    int64_t in = (p0 + tap) / up;             // exact division
    if (in < 0) { tap += -in * up; in = 0; }  // skip taps that read the left/top zero padding
    int64_t count = 0;
    if (tap < taps && in < in_size) {
        count = (taps - 1 - tap) / up + 1;
        if (in + count > in_size) count = in_size - in;
    }
    TapRange r = {in, tap, count};
    return r;
}

// Geometry of one upfirdn2d call (all sizes in elements; planes are contiguous H x W).
struct Upfirdn2dShape {
    int64_t in_h, in_w, out_h, out_w, fh, fw;
    int64_t upx, upy, downx, downy, padx0, pady0;
};

// One output pixel (oy, ox) of one plane: the sum over the taps that reach it, in compute type S.
// x points at the plane's input, w at the weights [fh][fw]. The CUDA kernel runs this per thread;
// the CPU module runs it too (mode "pixel") so that the tests cover it.
template <typename S, typename T, typename W>
FL_HOST_DEVICE S upfirdn2d_pixel(const T* x, const W* w, const Upfirdn2dShape& s, int64_t oy, int64_t ox)
{
    const TapRange ry = tap_range(oy, s.upy, s.downy, s.pady0, s.fh, s.in_h);
    const TapRange rx = tap_range(ox, s.upx, s.downx, s.padx0, s.fw, s.in_w);
    S acc = 0;
    for (int64_t a = 0; a < ry.count; a++) {
        const T* row = x + (ry.in0 + a) * s.in_w + rx.in0;
        const W* wrow = w + (ry.tap0 + a * s.upy) * s.fw + rx.tap0;
        for (int64_t c = 0; c < rx.count; c++)
            acc += (S)row[c] * (S)wrow[c * s.upx];
    }
    return acc;
}

}  // namespace facelatent
