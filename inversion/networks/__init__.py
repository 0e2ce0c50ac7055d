"""The networks: StyleGAN2 and StyleGAN3 generators (NVlabs layouts) and the StyleGAN2 discriminator;
:mod:`~inversion.networks.synthesis` makes images for seeds as the official generate.py does.

Both generator modules define a ``Generator``; they are exported as modules
(``networks.stylegan2.Generator``, ``networks.stylegan3.Generator``).
"""

from inversion.networks import stylegan2, stylegan3, synthesis
from inversion.networks.discriminator import Discriminator
from inversion.networks.layers import Conv2dLayer, FullyConnectedLayer, MappingNetwork

__all__ = ["Conv2dLayer", "Discriminator", "FullyConnectedLayer", "MappingNetwork", "stylegan2", "stylegan3", "synthesis"]
