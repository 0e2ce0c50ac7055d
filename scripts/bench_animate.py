"""Seconds per stage and end to end of the animate pipeline (one face, 4 s at 60 fps by default).

    python scripts/bench_animate.py                              # embedded default models
    python scripts/bench_animate.py -g ../shared/fixtures/stylegan2-ada_64_random.pkl   # fixture generator

With ``-g`` and no ``-d`` a direction file for that generator is fitted first (mean differences
on 700 mapped latents labelled by a random linear classifier: only the timing means anything).
The model loading, LPIPS weights and op builds happen before the clock starts (a warm-up
synthesis builds the ops); ``--profile`` prints the 25 most expensive functions of the run;
``--fill-cost`` then composites the run's frames again with and without the per-frame filling of
uncovered background (:mod:`editor.uncovered`) and prints milliseconds per frame of each.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def fixture_directions(G, path: Path) -> Path:
    """A direction file for ``G``: mean differences of mapped latents grouped by a random linear rule."""
    from directions.random_rule import save_random_rule_directions

    return save_random_rule_directions(G, path, samples=700)


def fill_cost(G, photo, directions, result, options) -> None:
    """Milliseconds per frame to composite the run's frames with and without the uncovered-background fill."""
    from editor.pipeline import plan_paths
    from editor.render import FrameCompositor, render_frames

    _, paths, heads = plan_paths(result.faces, directions, options)
    renderings = list(render_frames(G, result.faces, paths))
    for fill in (False, True, False, True):  # interleaved: the machine is shared
        compositor = FrameCompositor(G, photo, result.faces, heads, fill_uncovered=fill)
        start = time.perf_counter()
        for i, rendered in enumerate(renderings):
            compositor.frame(i, rendered)
        ms = 1000 * (time.perf_counter() - start) / len(renderings)
        print(f"  composite per frame, fill {'on ' if fill else 'off'}  {ms:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo", nargs="?", default=str(SHARED / "data" / "photos" / "astronaut.png"))
    parser.add_argument("-g", "--generator", default=None)
    parser.add_argument("-d", "--directions", default=None)
    parser.add_argument("--emotion", default="joy")
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--fps", type=float, default=60.0)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--faces", default="0")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: the machine is shared)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--fill-cost", action="store_true", help="also time compositing with and without the fill")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from directions.direction_file import load_directions
    from directions.default_directions import default_path
    from editor.emotion_spec import parse_emotion_spec
    from editor.face_edit import render_latents, full_noise
    from editor.animate_job import AnimateOptions
    from editor.pipeline import animate_photo
    from inversion.checkpoints import generator_identity, load_generator
    from inversion.projection.encoder import encoder_for
    from inversion.common.images import read_photo
    from inversion.projection.lpips import LPIPS

    G = load_generator(args.generator, "cpu")
    tmp = Path(tempfile.mkdtemp(prefix="bench_animate_"))
    if args.directions:
        dpath = Path(args.directions)
    elif args.generator:
        dpath = fixture_directions(G, tmp / "directions.pt")
    else:
        dpath = default_path()
    directions = load_directions(dpath, generator_identity(G))
    lpips = LPIPS("alex")
    encoder = encoder_for(G)
    render_latents(G, G.mapping.w_avg.reshape(1, 1, -1).repeat(1, G.num_ws, 1), full_noise(G, None))  # op build
    photo = read_photo(args.photo)
    faces = [int(v) for v in args.faces.split(",")] if args.faces else None
    options = AnimateOptions(emotion=parse_emotion_spec(args.emotion), seed=1, duration=args.duration, fps=args.fps,
                             faces=faces, steps=args.steps)
    profiler = cProfile.Profile() if args.profile else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    result = animate_photo(photo, G, directions, tmp / "bench.mp4", options, lpips=lpips, encoder=encoder)
    if profiler:
        profiler.disable()
    total = time.perf_counter() - start
    print(f"photo {args.photo} ({photo.shape[1]}x{photo.shape[0]}), faces {result.animated}, "
          f"generator {args.generator or 'embedded default'} ({G.img_resolution} px, {G.img_channels} ch), "
          f"encoder {'yes' if encoder is not None else 'no'}, {args.steps} projector steps, "
          f"{result.num_frames} frames, {args.threads} thread(s)")
    for stage, seconds in result.timings.items():
        print(f"  {stage:<26} {seconds:7.2f} s")
    print(f"  {'end to end':<26} {total:7.2f} s")
    if args.fill_cost:
        fill_cost(G, photo, directions, result, options)
    if profiler:
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
