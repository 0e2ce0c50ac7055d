"""``facelatent invert``: every face of a photo → a latent of the generator, saved in a latents file.

Pipeline: read the photo → detect faces (left to right) → align each with the generator's
``config["alignment"]`` variant at the generator's resolution → project all chosen faces in one
batch (W or W+, LPIPS VGG16, :mod:`inversion.projection.projector`) → optional pivotal tuning per face
(:mod:`inversion.projection.pti`) → reconstruction metrics → the latents file (:mod:`inversion.latents_file`).
The projection starts from the embedded encoder's W+ (W: its mean over layers) when the generator
is the one it was trained for (:func:`inversion.projection.encoder.encoder_for`; the embedded default), else
from ``w_avg``; ``--no-encoder`` always starts from ``w_avg``.
``--aligned`` takes the whole photo as one already aligned face crop (resized to the generator's
resolution; alignment ``"none"``, its forward transform the resize).

Face ``i`` is projected with seed ``seed + i`` (``i`` = its index among the photo's faces), so a
face gets the same latent whether it is inverted alone (``--faces i``) or with the others.
"seconds" per face is the batch's projection time divided by the number of faces, plus that
face's own pivotal tuning time. Progress goes to stderr, ``--json`` to stdout; files are atomic.
"""

from __future__ import annotations

import contextlib
import json
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import torch
import typer

from editor.cli.common import DeviceOption, GeneratorOption, JsonOption, SeedOption, handle_user_errors, info, parse_faces
from inversion.common.errors import FaceLatentError

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


def parse_face_indices(text: Optional[str], count: int) -> list[int]:
    """``"0,2"`` → ``[0, 2]`` (sorted, unique), checked against ``count`` faces; ``None`` → all faces."""
    chosen = parse_faces(text)
    if chosen is None:
        return list(range(count))
    bad = [i for i in chosen if not 0 <= i < count]
    if bad:
        raise FaceLatentError(f"--faces {bad[0]} is out of range: the photo has {count} face(s), indices 0 to {count - 1}")
    return chosen


def image_to_tensor(image: np.ndarray, channels: int) -> torch.Tensor:
    """uint8 ``[H, W, 3]`` RGB → float32 ``[1, channels, H, W]`` in [-1, 1] (grey: ITU-R 601 luma)."""
    rgb = torch.from_numpy(np.ascontiguousarray(image)).float().permute(2, 0, 1)[None] / 127.5 - 1
    if channels == 1:
        rgb = (rgb * torch.tensor([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)).sum(dim=1, keepdim=True)
    return rgb


def tensor_to_image(img: torch.Tensor) -> np.ndarray:
    """float ``[C, H, W]`` in [-1, 1] → uint8 ``[H, W, 3]`` RGB (grey repeated)."""
    arr = ((img.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    arr = arr.repeat(3, 1, 1) if arr.shape[0] == 1 else arr
    return arr.permute(1, 2, 0).numpy()


def aligned_input(photo: np.ndarray, size: int) -> dict:
    """The whole photo as one aligned crop: resized to ``size``; forward = photo px → crop px."""
    import cv2  # noqa: PLC0415
    h, w = photo.shape[:2]
    sx, sy = size / w, size / h
    crop = cv2.resize(photo, (size, size), interpolation=cv2.INTER_AREA if sx < 1 else cv2.INTER_CUBIC)
    forward = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]], dtype=np.float64)
    return {"index": 0, "box": [0.0, 0.0, float(w), float(h)], "landmarks": np.zeros((0, 2), np.float32),
            "alignment": "none", "forward": forward, "image": crop}


def detected_inputs(photo: np.ndarray, size: int, variant: str, faces: Optional[str], device: str) -> list[dict]:
    """Detect, choose and align the faces of ``photo``; one dict per face (see :func:`aligned_input`)."""
    from inversion.faces.alignment import align_face  # noqa: PLC0415
    from inversion.faces.detection import detect_faces  # noqa: PLC0415
    found = detect_faces(photo)
    if not found:
        raise FaceLatentError("no face found in the photo; if it is already an aligned face crop, use --aligned")
    chosen = []
    for i in parse_face_indices(faces, len(found)):
        aligned = align_face(photo, found[i].landmarks68, size=size, variant=variant)
        chosen.append({"index": i, "box": [float(v) for v in found[i].box],
                       "landmarks": np.asarray(found[i].landmarks68, np.float32), "alignment": variant,
                       "forward": aligned.forward, "image": aligned.image})
    return chosen


@contextlib.contextmanager
def progress_bar(total: int, enabled: bool = True):
    """A rich progress bar on stderr; yields ``advance(description)``."""
    if not enabled:
        yield lambda description=None: None
        return
    from rich.console import Console  # noqa: PLC0415
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn  # noqa: PLC0415
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task("inverting", total=total)

        def advance(description=None):
            bar.update(task, advance=1, **({"description": description} if description else {}))

        yield advance


def encoder_start(encoder, targets: torch.Tensor, space: str) -> Optional[torch.Tensor]:
    """The encoder's latents for ``targets`` (W+ ``[N, num_ws, w_dim]``, or their mean over layers
    ``[N, w_dim]`` for ``space == "w"``); None without an encoder (the projection starts at ``w_avg``)."""
    if encoder is None:
        return None
    with torch.no_grad():
        return encoder.encode_w(targets) if space == "w" else encoder(targets)


def invert_faces(G, lpips, faces: list[dict], space: str, steps: int, pti_steps: int, seed: int, advance,
                 encoder=None) -> list:
    """Project (and optionally tune) the aligned faces; returns one ``FaceLatent`` per face.

    The projection starts from ``encoder``'s latents (:func:`encoder_start`), or ``w_avg`` without one.
    """
    from inversion.latents_file import FaceLatent  # noqa: PLC0415
    from inversion.projection.projector import (  # noqa: PLC0415
        ProjectorConfig, estimate_w_stats, lpips_distance, psnr, run_projection, synthesize, to_wplus,
    )
    from inversion.projection.pti import PTIConfig, pivotal_tuning  # noqa: PLC0415
    device = G.mapping.w_avg.device
    targets = torch.cat([image_to_tensor(f["image"], G.img_channels) for f in faces]).to(device)
    w_stats = estimate_w_stats(G)
    start = time.perf_counter()
    init = encoder_start(encoder, targets, space)
    result = run_projection(G, targets, lpips, ProjectorConfig(space=space, num_steps=steps),
                            seed=[seed + f["index"] for f in faces], w_stats=w_stats, init=init,
                            progress=lambda step: advance(f"projecting {len(faces)} face(s) into {space.upper()}"))
    shared_seconds = (time.perf_counter() - start) / len(faces)
    out = []
    for k, face in enumerate(faces):
        latent, noise = result.latent[k:k + 1], {n: v[k:k + 1] for n, v in (result.noise or {}).items()}
        tuned, delta, start = None, None, time.perf_counter()
        if pti_steps > 0:
            tuning = pivotal_tuning(G, targets[k:k + 1], latent, lpips, PTIConfig(num_steps=pti_steps), noise=noise,
                                    seed=seed + face["index"], w_std=w_stats[1],
                                    progress=lambda step: advance(f"pivotal tuning of face {face['index']}"))
            tuned, delta = tuning.synthesis, tuning.delta
        with torch.no_grad():
            recon = synthesize(G, to_wplus(latent, G.num_ws), noise, synthesis=tuned)
            metrics = {"lpips": float(lpips_distance(lpips, recon, targets[k:k + 1])),
                       "psnr": float(psnr(recon, targets[k:k + 1])),
                       "seconds": shared_seconds + time.perf_counter() - start}
        face["reconstruction"] = tensor_to_image(recon[0])
        face["target"] = tensor_to_image(targets[k])
        out.append(FaceLatent(index=face["index"], box=face["box"], landmarks=torch.from_numpy(face["landmarks"]),
                              alignment=face["alignment"], forward=torch.from_numpy(face["forward"]),
                              crop_size=G.img_resolution, latent=latent[0], noise=noise, pti_delta=delta,
                              metrics=metrics))
    return out


def write_png(path: Path, image: np.ndarray) -> None:
    """Write a uint8 RGB image as PNG atomically (its folder is made when missing)."""
    from editor.preview import write_png as write  # noqa: PLC0415
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path, image)


def check_outputs(out: Path, export: bool, reconstruction: Optional[Path], option: str) -> None:
    """Refuse, before any work, outputs that cannot be written (see inversion.common.output_files)."""
    from inversion.common.output_files import check_output_file, check_output_folder  # noqa: PLC0415

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
    from inversion.checkpoints import generator_identity, load_generator  # noqa: PLC0415
    from inversion.common.devices import pick_device  # noqa: PLC0415
    from inversion.projection.encoder import encoder_for  # noqa: PLC0415
    from inversion.common.images import read_photo  # noqa: PLC0415
    from inversion.latents_file import LatentsFile, export_projected_w, save_latents  # noqa: PLC0415
    from inversion.projection.lpips import LPIPS  # noqa: PLC0415

    out = output or default_output(photo)
    check_outputs(out, export, save_reconstruction, "-o" if output is not None else "the output")
    torch_device = pick_device(device)
    image = read_photo(photo)
    G = load_generator(generator, torch_device)
    variant = G.config.get("alignment", "ffhq")
    chosen = ([aligned_input(image, G.img_resolution)] if aligned
              else detected_inputs(image, G.img_resolution, variant, faces, str(torch_device)))
    lpips = LPIPS(lpips_net.value).to(torch_device)
    start_encoder = encoder_for(G, torch_device) if encoder else None
    seed = 0 if seed is None else seed
    with progress_bar(len(chosen) * pti_steps + steps) as advance:
        results = invert_faces(G, lpips, chosen, space.value, steps, pti_steps, seed, advance, start_encoder)
    data = LatentsFile(generator=generator_identity(G), num_ws=G.num_ws, w_dim=G.w_dim, resolution=G.img_resolution,
                       space=space.value, photo_path=str(photo), photo_size=(image.shape[1], image.shape[0]),
                       faces=results, settings={"steps": steps, "pti_steps": pti_steps, "seed": seed,
                                                "lpips": lpips_net.value, "aligned_input": aligned,
                                                "start": "encoder" if start_encoder is not None else "w_avg"})
    save_latents(out, data)
    if export:
        export_projected_w(export_path(out), data)
    if save_reconstruction is not None:
        for face in chosen:
            write_png(save_reconstruction / f"face{face['index']:02d}.png",
                      np.concatenate([face["target"], face["reconstruction"]], axis=1))
    report(out, results, json_out)


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
