"""``facelatent generate``: images from a generator, for seeds, z vectors or w latents.

Seeds give the same z as the official StyleGAN2-ADA ``generate.py``
(``np.random.RandomState(seed).randn(1, z_dim)``), so seeds pick the same images. The output
kind follows ``-o``: ``OUT.png`` one grid of all images, ``OUT.npy`` the raw float32 NCHW images
in [-1, 1], a folder (existing, or a new path without suffix) one PNG per image
(``seed0000.png``… for seeds, ``img0000.png``… otherwise). Every file is written atomically.
Seeds to z, class labels, synthesis and the official rounding live in
:mod:`inversion.networks.synthesis`; this module parses, checks, calls and writes.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import numpy as np
import typer
from PIL import Image

from editor.cli.common import DeviceOption, GeneratorOption, SeedOption, handle_user_errors, info
from editor.preview import contact_sheet
from inversion.common.errors import FaceLatentError
from inversion.common.output_files import atomic_open, check_output_file, check_output_folder

if TYPE_CHECKING:
    import torch

MAX_IMAGES = 100_000


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)


def parse_seeds(text: str) -> list[int]:
    """``"0-7"``, ``"1,5,9"`` or ``"0-3,10"`` → a list of seeds in [0, 2**32); FaceLatentError otherwise."""
    seeds: list[int] = []
    for part in text.replace(" ", "").split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if match is None:
            raise FaceLatentError(f"bad seed range '{part}' in --seeds: use forms like 0-7, 3 or 1,5,9")
        lo = int(match.group(1))
        hi = int(match.group(2)) if match.group(2) is not None else lo
        if hi >= 2 ** 32 or lo > hi:
            raise FaceLatentError(f"bad seed range '{part}': seeds run from 0 to {2 ** 32 - 1}, low to high")
        if len(seeds) + hi - lo + 1 > MAX_IMAGES:
            raise FaceLatentError(f"--seeds asks for more than {MAX_IMAGES} images")
        seeds.extend(range(lo, hi + 1))
    return seeds


def _load_array(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        raise FaceLatentError(f"no such {what} file: {path}")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise FaceLatentError(f"{path} is not a readable .npy array ({str(err).splitlines()[0]})") from None
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.number):
        raise FaceLatentError(f"{path} does not hold a numeric array")
    if not np.isfinite(array).all():
        raise FaceLatentError(f"{path} contains NaN or infinite values")
    return array.astype(np.float32)


def _check_z(z: np.ndarray, G, path: Path) -> np.ndarray:
    if z.ndim == 1:
        z = z[None]
    if z.ndim != 2 or z.shape[1] != G.z_dim or len(z) == 0:
        raise FaceLatentError(f"{path} holds z of shape {list(z.shape)}; this generator needs [N, {G.z_dim}]")
    return z


def _check_w(w: np.ndarray, G, path: Path) -> np.ndarray:
    if w.ndim == 1:
        w = w[None]
    if w.ndim == 2 and w.shape[1] == G.w_dim:
        w = np.repeat(w[:, None, :], G.num_ws, axis=1)
    if w.ndim != 3 or w.shape[1:] != (G.num_ws, G.w_dim) or len(w) == 0:
        raise FaceLatentError(f"{path} holds w of shape {list(w.shape)}; this generator needs "
                              f"[N, {G.w_dim}] or [N, {G.num_ws}, {G.w_dim}]")
    return w


def _save_png(path: Path, image: np.ndarray) -> None:
    """One uint8 image [H, W, C] as PNG (grey stays grey), atomically."""
    image = image[:, :, 0] if image.shape[2] == 1 else image
    with atomic_open(path) as handle:
        Image.fromarray(image).save(handle, format="PNG")


def _output_kind(output: Path) -> str:
    """"folder", "png" or "npy" for ``-o``, after checking that it can be written (before any work)."""

    if output.is_dir() or output.suffix == "":
        check_output_folder(output, "-o")
        return "folder"
    if output.suffix.lower() in (".png", ".npy"):
        check_output_file(output, "-o")
        return output.suffix.lower()[1:]
    raise FaceLatentError(f"unknown output kind '{output.suffix}': use OUT.png (grid), OUT.npy (raw) or a folder")


def _write(output: Path, kind: str, images: torch.Tensor, names: list[str]) -> None:
    if kind == "npy":
        array = images.numpy().astype(np.float32)
        with atomic_open(output) as handle:
            np.save(handle, array)
        return
    from inversion.networks.synthesis import official_uint8  # noqa: PLC0415 (torch, as in generate)

    pixels = official_uint8(images)
    if kind == "png":
        columns = math.ceil(math.sqrt(len(pixels)))
        rgb = [np.repeat(p, 3, axis=2) if p.shape[2] == 1 else p for p in pixels]
        _save_png(output, contact_sheet(rgb, columns=columns, gap=0))
        return
    output.mkdir(parents=True, exist_ok=True)
    for name, image in zip(names, pixels):
        _save_png(output / name, image)


@handle_user_errors
def generate(
    output: Annotated[Path, typer.Option("--output", "-o", help="OUT.png (grid), OUT.npy (raw float32 NCHW in [-1, 1]) or a folder (one PNG per image).")],
    generator: GeneratorOption = None,
    seeds: Annotated[Optional[str], typer.Option("--seeds", help="Seeds as in the official generate.py: 0-7, 3 or 1,5,9.")] = None,
    z: Annotated[Optional[Path], typer.Option("--z", help="A .npy of z vectors [N, z_dim].")] = None,
    w: Annotated[Optional[Path], typer.Option("--w", help="A .npy of w [N, w_dim] or W+ [N, num_ws, w_dim] latents.")] = None,
    truncation: Annotated[float, typer.Option("--truncation", help="Truncation psi for --seeds/--z (1 = none).")] = 1.0,
    noise_mode: Annotated[str, typer.Option("--noise-mode", help="const (stored noise), random or none.")] = "const",
    seed: SeedOption = None,
    device: DeviceOption = "auto",
    class_idx: Annotated[Optional[int], typer.Option("--class", help="Class index, for conditional generators.")] = None,
) -> None:
    """Generate images for seeds, z vectors or w latents (seeds match the official StyleGAN2-ADA generate.py)."""
    # torch and the networks load here, not with the module: `generate --help` need not wait for them.
    from inversion.checkpoints import load_generator  # noqa: PLC0415
    from inversion.common.devices import pick_device  # noqa: PLC0415
    from inversion.networks.synthesis import (  # noqa: PLC0415
        NOISE_MODES, class_label, synthesize_images, z_from_seeds,
    )

    if sum(x is not None for x in (seeds, z, w)) != 1:
        raise FaceLatentError("give exactly one of --seeds, --z or --w")
    if noise_mode not in NOISE_MODES:
        raise FaceLatentError(f"--noise-mode must be one of {', '.join(NOISE_MODES)}, not '{noise_mode}'")
    if w is not None and truncation != 1.0:
        raise FaceLatentError("--truncation applies to --seeds and --z, not to --w latents")
    if not math.isfinite(truncation):
        raise FaceLatentError("--truncation must be a finite number")
    kind = _output_kind(output)
    seed_list = parse_seeds(seeds) if seeds is not None else None
    target = pick_device(device)
    G = load_generator(generator, target)
    label = class_label(G, class_idx) if w is None else None
    if seed_list is not None:
        latents, space, names = z_from_seeds(seed_list, G.z_dim), "z", [f"seed{s:04d}.png" for s in seed_list]
    elif z is not None:
        latents, space = _check_z(_load_array(z, "z"), G, z), "z"
    else:
        latents, space = _check_w(_load_array(w, "w"), G, w), "w"
    if seed_list is None:
        names = [f"img{i:04d}.png" for i in range(len(latents))]
    if len(latents) > MAX_IMAGES:
        raise FaceLatentError(f"too many images ({len(latents)}); at most {MAX_IMAGES}")
    info(f"generating {len(latents)} image(s) at {G.img_resolution} px on {target}")
    images = synthesize_images(G, latents, space, truncation, noise_mode, seed if seed is not None else 0, target,
                               label=label)
    _write(output, kind, images, names)
    info(f"wrote {output}")
