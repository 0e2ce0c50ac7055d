"""From an aligned face to its latent: LPIPS, the projector, pivotal tuning (PTI) and the encoder.

:mod:`~inversion.projection.lpips` (with its ImageNet :mod:`~inversion.projection.backbones`),
:mod:`~inversion.projection.projector` (``project``; ``run_projection(mask=)`` for faces cut by the photo's
edge), :mod:`~inversion.projection.pti` (``pivotal_tuning``) and :mod:`~inversion.projection.encoder` (the
initial latent).
"""

from inversion.projection.encoder import Encoder, encoder_for, load_encoder, save_encoder
from inversion.projection.lpips import LPIPS
from inversion.projection.projector import (ProjectionResult, ProjectorConfig, lpips_distance, project, psnr,
                                            run_projection, synthesize, to_wplus)
from inversion.projection.pti import PTIConfig, PTIResult, apply_delta, pivotal_tuning, weight_delta

__all__ = [
    "LPIPS", "Encoder", "PTIConfig", "PTIResult", "ProjectionResult", "ProjectorConfig", "apply_delta",
    "encoder_for", "load_encoder", "lpips_distance", "pivotal_tuning", "project", "psnr",
    "run_projection", "save_encoder", "synthesize", "to_wplus", "weight_delta",
]
