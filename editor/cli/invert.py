"""``facelatent invert``: every face of a photo → a latent of the generator, saved in a latents file.

Wires options and files to :func:`inversion.photo_inversion.invert_photo`: read the photo →
detect faces (left to right) → align each with the generator's ``config["alignment"]`` variant at
the generator's resolution → project all chosen faces in one batch (W or W+, LPIPS VGG16,
:mod:`inversion.projection.projector`) → optional pivotal tuning per face (:mod:`inversion.projection.pti`) →
reconstruction metrics → the latents file (:mod:`inversion.latents_file`). The projection starts
from the embedded encoder's W+ (W: its mean over layers) when the generator is the one it was
trained for (:func:`inversion.projection.encoder.encoder_for`; the embedded default), else from ``w_avg``;
``--no-encoder`` always starts from ``w_avg``.
``--aligned`` takes the whole photo as one already aligned face crop (resized to the generator's
resolution; alignment ``"none"``, its forward transform the resize).

Face ``i`` is projected with seed ``seed + i`` (``i`` = its index among the photo's faces), so a
face gets the same latent whether it is inverted alone (``--faces i``) or with the others.
"seconds" per face is the batch's projection time divided by the number of faces, plus that
face's own pivotal tuning time. Progress goes to stderr, ``--json`` to stdout; files are atomic.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from editor.cli.common import (
    DeviceOption, GeneratorOption, JsonOption, SeedOption, handle_user_errors, info, parse_faces, progress_bar,
)
from editor.preview import write_png as write
from inversion.common.images import read_photo
from inversion.common.output_files import check_output_file, check_output_folder

# Defaults measured in docs/BENCHMARKS.md (Inversion): from the encoder's start, 100 VGG16 steps take
# about 13 s of CPU for one face of the embedded 64 px generator (300 steps: about 30 s, over the 20 s
# goal). AlexNet as the loss lowers its own score at 64 px without improving VGG16 LPIPS or PSNR.
DEFAULT_STEPS = 100
DEFAULT_LPIPS = "vgg"


class Space(str, Enum):
    w = "w"
    wplus = "w+"


class LpipsNet(str, Enum):
    vgg = "vgg"
    alex = "alex"


def register(app: typer.Typer) -> None:
    app.command("invert")(invert)


def write_png(path: Path, image: np.ndarray) -> None:
    """Write a uint8 RGB image as PNG atomically (its folder is made when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path, image)


def check_outputs(out: Path, export: bool, reconstruction: Optional[Path], option: str) -> None:
    """Refuse, before any work, outputs that cannot be written (see inversion.common.output_files)."""
    check_output_file(out, option)
    if export:
        check_output_file(export_path(out), "--export")
    if reconstruction is not None:
        check_output_folder(reconstruction, "--save-reconstruction")


def default_output(photo: Path) -> Path:
    """``photo.jpg`` → ``photo.latents.pt`` beside it."""
    return photo.with_name(photo.stem + ".latents.pt")


def export_path(out: Path) -> Path:
    """``x.latents.pt`` → ``x.latents.projected_w.npz`` (the official projector's file name, prefixed)."""
    stem = out.name[:-3] if out.name.endswith(".pt") else out.name
    return out.with_name(stem + ".projected_w.npz")


@handle_user_errors
def invert(
    photo: Annotated[Path, typer.Argument(help="Photo with one or more faces (JPEG, PNG, WebP, BMP).")],
    generator: GeneratorOption = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Latents file to write. "
                      "Default: PHOTO's name with .latents.pt, beside it.")] = None,
    space: Annotated[Space, typer.Option("--space", help="w: one code for all layers; w+: one per layer.")] = Space.wplus,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Projection steps.")] = DEFAULT_STEPS,
    pti_steps: Annotated[int, typer.Option("--pti-steps", min=0, help="Pivotal tuning steps per face "
                         "(0: none). Stores a weight delta per face.")] = 0,
    faces: Annotated[Optional[str], typer.Option("--faces", help="Which faces, e.g. 0,2 (left to right, as "
                     "`facelatent detect` numbers them). Default: all.")] = None,
    aligned: Annotated[bool, typer.Option("--aligned", help="PHOTO is one already aligned face crop: "
                       "no detection, just resizing.")] = False,
    save_reconstruction: Annotated[Optional[Path], typer.Option("--save-reconstruction", help="Folder for one "
                                   "PNG per face: aligned target left, reconstruction right.")] = None,
    export: Annotated[bool, typer.Option("--export", help="Also write OUT's name with .projected_w.npz "
                      "(official projector format: key w, [faces, num_ws, w_dim]).")] = False,
    lpips_net: Annotated[LpipsNet, typer.Option("--lpips", help="LPIPS backbone of the loss: vgg (as the "
                         "official projector) or alex (faster; at 64 px it fits its own score more than the face).")] = LpipsNet(DEFAULT_LPIPS),
    encoder: Annotated[bool, typer.Option("--encoder/--no-encoder", help="Start from the embedded encoder's "
                       "latents when the generator has one (the embedded default does); else from w_avg.")] = True,
    seed: SeedOption = None,
    device: DeviceOption = "auto",
    json_out: JsonOption = False,
) -> None:
    """Invert every face of PHOTO into the generator's latent space and save a latents file."""
    # torch, the networks and SciPy load here, not with the module: `invert --help` need not wait for them.
    from inversion.checkpoints import load_generator  # noqa: PLC0415
    from inversion.common.devices import pick_device  # noqa: PLC0415
    from inversion.latents_file import export_projected_w, save_latents  # noqa: PLC0415
    from inversion.photo_inversion import InversionSettings, faces_to_invert, invert_photo  # noqa: PLC0415
    from inversion.projection.encoder import encoder_for  # noqa: PLC0415
    from inversion.projection.lpips import LPIPS  # noqa: PLC0415

    out = output or default_output(photo)
    check_outputs(out, export, save_reconstruction, "-o" if output is not None else "the output")
    torch_device = pick_device(device)
    image = read_photo(photo)
    G = load_generator(generator, torch_device)
    chosen = faces_to_invert(image, G, aligned=aligned, wanted=None if aligned else parse_faces(faces))
    lpips = LPIPS(lpips_net.value).to(torch_device)
    start_encoder = encoder_for(G, torch_device) if encoder else None
    settings = InversionSettings(space=space.value, steps=steps, pti_steps=pti_steps, seed=0 if seed is None else seed)
    with progress_bar("inverting", len(chosen) * pti_steps + steps, transient=False) as bar:
        data, images = invert_photo(image, G, chosen, lpips, settings, photo_path=str(photo), encoder=start_encoder,
                                    lpips_name=lpips_net.value, progress=lambda description, step: bar.advance(description))
    save_latents(out, data)
    if export:
        export_projected_w(export_path(out), data)
    if save_reconstruction is not None:
        for face, target, reconstruction in zip(data.faces, images.targets, images.reconstructions):
            write_png(save_reconstruction / f"face{face.index:02d}.png", np.concatenate([target, reconstruction], axis=1))
    report(out, data.faces, json_out)


def report(out: Path, results: list, json_out: bool) -> None:
    """``--json`` summary on stdout, or one line per face on stderr."""
    summary = {"latents": str(out), "faces": [
        {"index": f.index, "box": [round(v, 2) for v in f.box], "lpips": round(f.metrics["lpips"], 4),
         "psnr": round(f.metrics["psnr"], 2), "seconds": round(f.metrics["seconds"], 2)} for f in results]}
    if json_out:
        typer.echo(json.dumps(summary))
        return
    for f in summary["faces"]:
        info(f"face {f['index']}: LPIPS {f['lpips']:.4f}, PSNR {f['psnr']:.2f} dB, {f['seconds']:.1f} s")
    info(f"wrote {out}")
