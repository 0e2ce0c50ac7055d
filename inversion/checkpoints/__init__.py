"""Loading generators (and discriminators) from checkpoints, safely, and naming their weights.

``load_generator(path_or_None, device)`` reads official StyleGAN2-ADA/StyleGAN3 pickles with a
restricted unpickler, rosinality ``.pt`` files and the project's own format, never running code
from the file; ``generator_identity(G)`` is the SHA-256 of the weights; ``save_generator`` writes
the project's format; ``load_tensors`` reads any of the project's ``.pt`` files, weights only.
"""

from inversion.checkpoints.loader import DEFAULT_GENERATOR_DIR, load_discriminator, load_generator
from inversion.checkpoints.native import build_generator, generator_identity, save_generator
from inversion.checkpoints.safe_load import load_tensors
from inversion.checkpoints.safe_pickle import load_safe_pickle

__all__ = ["DEFAULT_GENERATOR_DIR", "build_generator", "generator_identity", "load_discriminator",
           "load_generator", "load_safe_pickle", "load_tensors", "save_generator"]
