"""StyleGAN2 / StyleGAN3 networks whose parameter names match the official PyTorch code.

:mod:`~inversion.networks.stylegan2` (generator), :mod:`~inversion.networks.stylegan3` (T/R
generator), :mod:`~inversion.networks.discriminator` (StyleGAN2 discriminator), built from
:mod:`~inversion.networks.layers` and :mod:`~inversion.networks.resample`. Load trained weights
with :func:`inversion.checkpoints.load_generator`.
"""
