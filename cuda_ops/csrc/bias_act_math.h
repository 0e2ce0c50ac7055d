// bias_act, one element at a time: the activation table of cuda_ops/activations.py in kernel form.
// The activation index A is the table's kernel_index column; G selects the derivative order.
#pragma once

#include "common.h"

namespace facelatent {

enum Activation {
    ACT_LINEAR = 1, ACT_RELU = 2, ACT_LRELU = 3, ACT_TANH = 4, ACT_SIGMOID = 5,
    ACT_ELU = 6, ACT_SELU = 7, ACT_SOFTPLUS = 8, ACT_SWISH = 9,
};

// One element of y = clamp(act(x + b) * gain, -clamp, clamp) or of its derivatives, in compute type S.
//   G = 0 (forward):  x = input, b = bias; xref, yref, dy unused (dy = 1).
//   G = 1 (dL/dx):    x = incoming gradient dL/dy; xref = saved input (bias not yet added), yref = saved y.
//   G = 2 (2nd order): x = incoming gradient of dL/dx; dy = the dL/dy that the first backward received.
// Activations whose derivative is written in terms of the output (the table's ref "y") read
// yy = yref / gain; swish (ref "x") reads the biased input. clamp < 0 means no clamping; in the
// derivatives an element whose output was clamped gets a zero gradient.
template <typename S, int A, int G>
FL_HOST_DEVICE S bias_act_element(S x, S b, S xref, S yref, S dy, S alpha, S gain, S clamp)
{
    const S zero = 0, one = 1, two = 2;
    const S exp_range = 80, half_exp_range = 40, softplus_threshold = 20;
    const S selu_scale = (S)1.0507009873554804934193349852946;
    const S selu_alpha = (S)1.6732632423543772848170429916717;
    if (G == 0) x += b; else xref += b;
    const S yy = (gain != zero) ? yref / gain : zero;
    S y = zero;

    if (A == ACT_LINEAR) {
        y = (G == 2) ? zero : x;
    } else if (A == ACT_RELU) {
        if (G == 0) y = (x > zero) ? x : zero;
        if (G == 1) y = (yy > zero) ? x : zero;
    } else if (A == ACT_LRELU) {
        if (G == 0) y = (x > zero) ? x : x * alpha;
        if (G == 1) y = (yy > zero) ? x : x * alpha;
    } else if (A == ACT_TANH) {
        if (G == 0) y = fl_tanh(x);
        if (G == 1) y = x * (one - yy * yy);
        if (G == 2) y = x * (one - yy * yy) * (-two * yy);
    } else if (A == ACT_SIGMOID) {
        if (G == 0) y = (x < -exp_range) ? zero : one / (fl_exp(-x) + one);
        if (G == 1) y = x * yy * (one - yy);
        if (G == 2) y = x * yy * (one - yy) * (one - two * yy);
    } else if (A == ACT_ELU) {
        if (G == 0) y = (x >= zero) ? x : fl_expm1(x);
        if (G == 1) y = (yy >= zero) ? x : x * (yy + one);
        if (G == 2) y = (yy >= zero) ? zero : x * (yy + one);
    } else if (A == ACT_SELU) {
        if (G == 0) y = (x >= zero) ? selu_scale * x : (selu_scale * selu_alpha) * fl_expm1(x);
        if (G == 1) y = (yy >= zero) ? x * selu_scale : x * (yy + selu_scale * selu_alpha);
        if (G == 2) y = (yy >= zero) ? zero : x * (yy + selu_scale * selu_alpha);
    } else if (A == ACT_SOFTPLUS) {
        // softplus(x) = log(1 + e^x); its derivative sigmoid(x) = 1 - e^(-softplus(x)).
        if (G == 0) y = (x > softplus_threshold) ? x : fl_log1p(fl_exp(x));
        if (G == 1) y = x * (one - fl_exp(-yy));
        if (G == 2) { S c = fl_exp(-yy); y = x * c * (one - c); }
    } else if (A == ACT_SWISH) {
        // swish(x) = x * sigmoid(x); with c = e^x, d = c + 1: swish' = c (x + d) / d^2,
        // swish'' = c (x (2 - d) + 2 d) / d^3.
        if (G == 0) {
            y = (x < -exp_range) ? zero : x / (fl_exp(-x) + one);
        } else {
            S c = fl_exp(xref);
            S d = c + one;
            if (G == 1) y = (xref > half_exp_range) ? x : x * c * (xref + d) / (d * d);
            else y = (xref > half_exp_range) ? zero : x * c * (xref * (two - d) + two * d) / (d * d * d);
        }
    }

    y *= gain * dy;
    if (clamp >= zero) {
        if (G == 0) y = (y > clamp) ? clamp : ((y < -clamp) ? -clamp : y);  // NaN stays NaN
        else y = (yref > -clamp && yref < clamp) ? y : zero;
    }
    return y;
}

}  // namespace facelatent
