"""Compiled ops for the StyleGAN2 networks: ``bias_act`` and ``upfirdn2d`` (NVlabs semantics).

Each op has one public function with an ``impl`` switch over three implementations: a pure-PyTorch
reference (the readable definition, ``*_ref``), a C++ CPU kernel and a CUDA kernel, the kernels
built with ninja on first use and cached under ``$FACELATENT_HOME/ops`` (see
:mod:`cuda_ops.builder`). ``impl=None`` reads ``$FACELATENT_OPS`` (``auto|ref|cpp|cuda``).
"""

from cuda_ops.activations import ACTIVATIONS
from cuda_ops.bias_act import bias_act, bias_act_ref
from cuda_ops.builder import OpsUnavailableError
from cuda_ops.upfirdn2d import (downsample2d, filter2d, setup_filter, upfirdn2d, upfirdn2d_ref,
                                upsample2d)

__all__ = [
    "ACTIVATIONS", "OpsUnavailableError", "bias_act", "bias_act_ref", "downsample2d", "filter2d",
    "setup_filter", "upfirdn2d", "upfirdn2d_ref", "upsample2d",
]
