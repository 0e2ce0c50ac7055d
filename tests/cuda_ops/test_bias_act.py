"""The pure-PyTorch bias_act reference: against its definition per activation, gradcheck/gradgradcheck."""

from __future__ import annotations

import pytest
import torch

from cuda_ops import ACTIVATIONS, bias_act_ref


@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_bias_act_ref_definition(act):
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(3, 5, 4, generator=gen, dtype=torch.float64)
    b = torch.randn(5, generator=gen, dtype=torch.float64)
    spec = ACTIVATIONS[act]
    y = bias_act_ref(x, b, act=act, clamp=0.7)
    z = spec.func(x + b[None, :, None], alpha=spec.def_alpha) * spec.def_gain
    assert torch.allclose(y, z.clamp(-0.7, 0.7))
    y2 = bias_act_ref(x, b, dim=1, act=act, alpha=0.1, gain=0.5)
    assert torch.allclose(y2, spec.func(x + b[None, :, None], alpha=0.1) * 0.5)


@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_bias_act_ref_gradcheck(act):
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, generator=gen, dtype=torch.float64, requires_grad=True)
    fn = lambda x, b: bias_act_ref(x, b, act=act, clamp=1.5)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))
