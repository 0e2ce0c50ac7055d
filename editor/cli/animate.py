"""``facelatent animate``: the main job, a photo -> a video in which every face performs an emotion.

Wires options and files to :func:`editor.warp_pipeline.animate_with_warp` (the default for the embedded
generator: no generator, no torch) or :func:`editor.pipeline.animate_photo`: the generator (``-g``, default
the embedded one), the directions (``-d``, default the embedded ones for the embedded generator),
the emotion blend, the seed (printed when drawn fresh), the optional latents file from
``facelatent invert``, and the output. The video goes to ``-o`` or, by default, beside the photo
as ``PHOTO-STEM_EMOTION.mp4`` (a blend such as ``joy:0.6,surprise:0.4`` gives
``PHOTO-STEM_joy60-surprise40.mp4``). Progress bars per stage go to stderr (cleared when done, then
a line of seconds per stage); the last line on stderr says where the video went (``--json``: a
summary on stdout as well).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from editor.animate_job import MOTION_MODELS, AnimateOptions, output_size
from editor.cli.common import DeviceOption, GeneratorOption, JsonOption, SeedOption, handle_user_errors, info, parse_faces
from editor.emotion_spec import parse_emotion_spec
from editor.preview import image_format, write_image
from editor.trajectory import fresh_seed, validate_timing
from editor.warp_pipeline import animate_with_warp
from inversion.common.errors import AssetMissingError, FaceLatentError
from inversion.common.images import read_photo
from inversion.common.output_files import check_output_file
from inversion.faces.detection import DEFAULT_MIN_FACE, search_notice, search_plan

def register(app: typer.Typer) -> None:
    app.command("animate")(animate)


def default_output(photo: Path, label: str) -> Path:
    """``photo.jpg`` + ``joy`` -> ``photo_joy.mp4`` beside the photo (a blend: ``joy60-surprise40``)."""
    parts = []
    for item in label.split(","):
        name, _, weight = item.partition(":")
        parts.append(name + (f"{round(float(weight) * 100):d}" if weight else ""))
    return photo.with_name(f"{photo.stem}_{'-'.join(parts)}.mp4")


@contextlib.contextmanager
def stage_progress(enabled: bool = True):
    """Rich progress bars on stderr, one per stage, when stderr is a terminal.

    Yields ``progress(stage, done, total)``.
    """
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:  # no bars in logs and pipes: the summary lines say enough
        yield lambda stage, done, total: None
        return
    tasks: dict[str, int] = {}
    with Progress(TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield progress


@contextlib.contextmanager
def torch_threads(count: int):
    """Run with ``count`` torch CPU threads (0: leave as is), restoring the previous count after.

    Small networks (the 64 px default models) gain nothing from more threads, and on a machine whose
    cores are busy two threads ran the projection about 50x slower than one (docs/BENCHMARKS.md).
    """
    import torch  # noqa: PLC0415 (torch: 3 s of start-up that the warp, the default, does without)

    before = torch.get_num_threads()
    if count > 0:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def check_outputs(video: Path, preview: Optional[Path], video_option: str = "-o") -> None:
    """Refuse, before any work, a video name that is not .mp4, a preview extension that is not an image
    format, and any output that cannot be written (missing or read-only folder, a folder's name)."""
    if video.suffix.lower() != ".mp4":
        raise FaceLatentError(f"{video_option} {video}: the video must be an .mp4 file")
    check_output_file(video, video_option)
    if preview is not None:
        check_output_file(preview, "--preview")
        image_format(preview, "--preview")
        if preview.resolve() == video.resolve():
            raise FaceLatentError(f"--preview {preview} is the video's own file name")


def search_limit(width: int, height: int) -> Optional[str]:
    """The one-line notice printed when the photo is too large to search fully for faces, else None."""
    plan = search_plan(width, height, DEFAULT_MIN_FACE)
    return None if plan.complete else search_notice(width, height, plan.smallest, DEFAULT_MIN_FACE)


def size_notice(width: int, height: int, max_side: int) -> Optional[str]:
    """The one-line notice printed when the video will be smaller than the photo, else None."""
    size = output_size(width, height, max_side)
    if size == (width, height):
        return None
    return (f"note: the photo is {width}x{height}; the video will be {size[0]}x{size[1]} "
            f"(long side at most --max-side {max_side}; 0 keeps the photo's size)")



@handle_user_errors
def animate(
    photo: Annotated[Path, typer.Argument(help="Photo with one or more faces (JPEG, PNG, WebP, BMP).")],
    emotion: Annotated[str, typer.Option("--emotion", "-e", help="joy, fear, anger, sadness, disgust or surprise, "
                       "or a blend such as joy:0.6,surprise:0.4. A weight is the share of that emotion's full "
                       "strength, 0 to 1, and a blend's weights add up to at most 1: joy:0.5 is half as strong "
                       "as joy; for more than full strength raise --intensity.")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Video to write (.mp4). Default: "
                      "PHOTO-STEM_EMOTION.mp4 beside the photo.")] = None,
    generator: GeneratorOption = None,
    directions: Annotated[Optional[Path], typer.Option("--directions", "-d", help="Direction file for the "
                          "generator (`facelatent directions train`). Default: the embedded directions.")] = None,
    duration: Annotated[float, typer.Option("--duration", help="Seconds, 2 to 10.")] = 4.0,
    fps: Annotated[float, typer.Option("--fps", help="Frames per second.")] = 60.0,
    intensity: Annotated[float, typer.Option("--intensity", help="Strength of the emotion, 0 to 1.")] = 0.7,
    seed: SeedOption = None,
    faces: Annotated[Optional[str], typer.Option("--faces", help="Which faces, e.g. 0,2 (left to right, as "
                     "`facelatent detect` numbers them). Default: all.")] = None,
    latents: Annotated[Optional[Path], typer.Option("--latents", help="Latents file of this photo from "
                       "`facelatent invert` (skips detection and inversion).")] = None,
    preview: Annotated[Optional[Path], typer.Option("--preview", help="Also write a contact sheet of "
                       "frames, in the format its extension names (.png, .jpg, .webp, .bmp, .tif).")] = None,
    max_side: Annotated[int, typer.Option("--max-side", min=0, help="Longest side of the video in pixels; a "
                        "larger photo is shrunk (after detection), with a one-line notice. 0: the photo's own "
                        "size.")] = 3840,
    crf: Annotated[int, typer.Option("--crf", help="H.264 quality, 0 (lossless) to 51; 18 is visually "
                   "near lossless.")] = 18,
    motion: Annotated[str, typer.Option("--motion", help="How faces move. warp: the photo's own pixels follow "
                      "the face's landmarks, set to the emotion by the expression model (sharp, keeps the person; "
                      "the mouth's inside and the eyeballs are layers that lids and lips slide over). flow: the "
                      "generator's optical flow moves the photo (the old model). paste: the generator's rendering "
                      "is pasted (for a sharp colour generator of your own). auto: warp for a grey or "
                      "small generator such as the embedded one, paste otherwise.")] = "auto",
    steps: Annotated[int, typer.Option("--steps", min=0, help="Projector steps per face after the encoder "
                     "(more: closer reconstruction, slower; flow and paste only).")] = 40,
    threads: Annotated[int, typer.Option("--threads", min=0, help="CPU threads for torch (0: torch's default). "
                       "1 is fastest for small generators and safe on a busy machine.")] = 1,
    device: DeviceOption = "auto",
    json_out: JsonOption = False,
) -> None:
    """Animate every face of PHOTO performing an emotion; writes an H.264 video."""
    spec = parse_emotion_spec(emotion)
    if motion not in MOTION_MODELS:
        raise FaceLatentError(f"--motion must be one of {', '.join(MOTION_MODELS)}, not {motion!r}")
    validate_timing(duration, fps, intensity)
    if not 0 <= crf <= 51:
        raise FaceLatentError(f"--crf must be between 0 and 51, got {crf}")
    chosen = parse_faces(faces)
    out = output or default_output(photo, spec.label())
    check_outputs(out, preview, "-o" if output is not None else "the output")
    image = read_photo(photo)
    for notice in (search_limit(image.shape[1], image.shape[0]) if latents is None else None,
                   size_notice(image.shape[1], image.shape[0], max_side)):
        if notice:
            info(notice)
    fresh = seed is None
    seed = fresh_seed() if fresh else seed
    options = AnimateOptions(emotion=spec, seed=int(seed), duration=duration, fps=fps, intensity=intensity,
                             faces=chosen, steps=steps, crf=crf, preview_frames=8 if preview else 0,
                             max_side=max_side, motion=motion)
    # The warp moves the photo's own pixels: no generator, no directions, no torch.
    if _warp_only(motion, generator) and latents is None:
        if device not in ("auto", "cpu"):
            _pick_device(device)  # an unusable --device is refused all the same
        with stage_progress() as progress:
            result = animate_with_warp(image, out, options, progress=progress)
    else:
        with torch_threads(threads):
            result = _run(image, generator, directions, out, options, latents, device)
    if preview is not None and result.preview is not None:
        write_image(preview, result.preview)
    if fresh:
        info(f"seed {seed}: pass --seed {seed} to make this video again")
    _report(result, options, preview, json_out)


def _warp_only(motion: str, generator: Optional[Path]) -> bool:
    """Does this run use the warp alone (asked for, or ``auto`` with the embedded generator)?"""
    return motion == "warp" or (motion == "auto" and generator is None)


def _pick_device(device: str):
    from inversion.common.devices import pick_device  # noqa: PLC0415 (torch: 3 s of start-up, as below)

    return pick_device(device)


def _run(image, generator: Optional[Path], directions: Optional[Path], out: Path, options,
         latents_path: Optional[Path], device: str):
    """flow and paste (and the warp from a latents file): the generator, directions and inversion, with torch."""
    # torch, the generator and the pipeline load here only: 3 s of start-up that the warp, the default, does without
    from directions.default_directions import resolve_directions  # noqa: PLC0415
    from directions.direction_file import load_directions  # noqa: PLC0415
    from editor.pipeline import animate_photo, choose_motion  # noqa: PLC0415
    from inversion.checkpoints import generator_identity, load_generator  # noqa: PLC0415
    from inversion.latents_file import load_latents  # noqa: PLC0415

    torch_device = _pick_device(device)
    warp_only = _warp_only(options.motion, generator)
    G = None if warp_only and latents_path is None else load_generator(generator, torch_device)
    direction_set = None if warp_only else load_directions(resolve_directions(generator, directions),
                                                           generator_identity(G))
    data, lpips, encoder = None, None, None
    if latents_path is not None:
        data = load_latents(latents_path, G)
    elif choose_motion(options.motion, G) != "warp":  # the warp needs no inversion
        encoder = _encoder(G)
        lpips = _lpips(G, options, encoder)
    with stage_progress() as progress:
        return animate_photo(image, G, direction_set, out, options, lpips=lpips, encoder=encoder, latents=data,
                             device=str(torch_device), progress=progress)


def _lpips(G, options, encoder):
    """LPIPS for the projector steps; without its weights (offline) the encoder's latents alone, said once."""
    from inversion.projection.lpips import LPIPS  # noqa: PLC0415 (torch, as in _run)

    if options.steps == 0:
        return None
    try:
        return LPIPS("alex").to(G.mapping.w_avg.device)
    except AssetMissingError as err:
        if encoder is None:
            raise
        info(f"note: no projector steps, the encoder's latents as they are ({err})")
        options.steps = 0
        return None


def _encoder(G):
    """The embedded encoder when ``G`` is the generator it was trained for, else None."""
    from inversion.projection.encoder import encoder_for  # noqa: PLC0415 (torch, as in _run)

    return encoder_for(G, G.mapping.w_avg.device)


def _report(result, options, preview: Optional[Path], json_out: bool) -> None:
    summary = {"video": str(result.video), "frames": result.num_frames, "fps": options.fps,
               "width": result.size[0], "height": result.size[1], "seed": options.seed,
               "emotion": options.emotion.label(), "animated": result.animated, "still": result.still,
               "boxes": [[round(float(v), 2) for v in f.box] for f in result.faces],
               "half_strength_s": [round(m.half_strength_time(), 3) for m in result.motions],
               "seconds": {k: round(v, 2) for k, v in result.timings.items()},
               "preview": str(preview) if preview else None, "motion": result.motion}
    if result.warp_stats:
        summary["warp"] = {k: (round(v, 3) if isinstance(v, float) else [round(x, 3) for x in v])
                           for k, v in result.warp_stats.items()}
    if result.still:
        info(f"face(s) {', '.join(map(str, result.still))} too small to animate: left still")
    if not result.animated:
        info("no face large enough to animate: the video shows the still photo")
    if json_out:
        typer.echo(json.dumps(summary))
    info("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items()))
    info(f"wrote {result.video} ({result.num_frames} frames, {options.fps:g} fps)")
