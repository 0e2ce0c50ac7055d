"""Benchmark inversion: LPIPS and PSNR against steps for W, W+, encoder-started W+ and W+ with PTI.

Held-out faces: the last ``--faces`` rows of ``../shared/data/faces128/faces128.tar``'s
``labels.csv``. ``scripts/prepare_face_data.py`` marks exactly those rows (``HELD_OUT_FACES128``)
as held out, so the default generator never saw them; asking for more is refused. Each 128 x 128
grey crop is prepared as the generator expects it: for a ``config["alignment"] == "tight"``
generator (the embedded default) it is re-aligned with ``prepare_face_data.align_grey`` (dlib's 68
landmarks, ``inversion.faces.alignment.align_face(..., variant="tight")``), the crop the generator was
trained on and the one ``facelatent invert`` / ``animate`` cut from photos; for other generators
it is resized (area). Grey is repeated to RGB for 3-channel generators.

Routes, each scored at step 0 (its start, G's constant noise) and every ``--every`` steps:

* ``W`` and ``W+``: the default projector (:class:`inversion.projection.projector.ProjectorConfig`, LPIPS
  ``--lpips`` loss, noise maps optimised) from ``w_avg``, batches of ``--batch`` faces;
* ``W+ from encoder``: the same projector started at the embedded encoder's W+
  (:func:`inversion.projection.encoder.encoder_for`; the route of ``facelatent animate`` and ``invert``);
  skipped for generators without an encoder;
* ``W+ then PTI``: pivotal tuning (:class:`inversion.projection.pti.PTIConfig` defaults, ``--pti-steps``) of
  each face from its final ``W+`` pivot and noise.

Scores, means over the faces: LPIPS AlexNet, LPIPS VGG16, PSNR (dB, images in [-1, 1]). Also
seconds per face (batched projection; PTI one face at a time), and the error of storing the PTI
delta in float16. Prints a markdown table (stdout) ready for docs/BENCHMARKS.md, progress on stderr,
and with ``--json`` writes everything. The defaults are the documented benchmark (about 12 minutes
of CPU on one core for the embedded default generator; the wall clock is longer on a shared
machine); run it on one thread::

    OMP_NUM_THREADS=1 python scripts/bench_inversion.py
    OMP_NUM_THREADS=1 python scripts/bench_inversion.py -g ../shared/fixtures/stylegan2-ada_64_random.pkl
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import shlex
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from inversion.checkpoints import DEFAULT_GENERATOR_DIR, generator_identity, load_generator
from inversion.projection.encoder import encoder_for
from inversion.projection.lpips import LPIPS
from inversion.projection.projector import ProjectorConfig, estimate_w_stats, lpips_distance, project, psnr, synthesize, to_wplus
from inversion.projection.pti import PTIConfig, apply_delta, pivotal_tuning_steps, tuned_synthesis_copy, weight_delta

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prepare_face_data import FACES128, HELD_OUT_FACES128, align_grey  # noqa: E402

ROUTES = ("W", "W+", "W+ from encoder", "W+ then PTI")


def held_out_crops(count: int) -> list[tuple[str, np.ndarray]]:
    """``(image name, grey uint8 [H, W])`` of the last ``count`` rows of faces128's labels.csv."""
    if not 1 <= count <= HELD_OUT_FACES128:
        sys.exit(f"error: --faces must be 1 to {HELD_OUT_FACES128}: only the last {HELD_OUT_FACES128} rows of "
                 "labels.csv are held out from the default generator's training (scripts/prepare_face_data.py)")
    with tarfile.open(FACES128) as tar:
        members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
        rows = list(csv.DictReader(io.StringIO(tar.extractfile(members["labels.csv"]).read().decode("utf-8"))))
        return [(row["image"], np.asarray(Image.open(io.BytesIO(tar.extractfile(members[row["image"]]).read()))
                                          .convert("L"))) for row in rows[-count:]]


def prepare_targets(crops: list, G) -> tuple[torch.Tensor, str]:
    """Targets ``[N, C, R, R]`` in [-1, 1] cut as ``G`` expects (see the module docstring), and how."""
    size, tight = G.img_resolution, G.config.get("alignment") == "tight"
    images, fallbacks = [], 0
    for _, grey in crops:
        if tight:
            image, fallback = align_grey(grey, size)
            fallbacks += fallback
        else:
            image = np.asarray(Image.fromarray(grey).resize((size, size), Image.BOX if grey.shape[1] > size
                                                            else Image.BICUBIC))
        images.append(torch.from_numpy(image.astype(np.float32))[None] / 127.5 - 1)
    faces = torch.stack(images)
    how = (f"re-aligned tight at {size} px ({fallbacks} landmark fallbacks)" if tight
           else f"resized to {size} px (generator alignment '{G.config.get('alignment', 'ffhq')}')")
    return (faces.repeat(1, 3, 1, 1) if G.img_channels == 3 else faces), how


class Stopwatch:
    """Accumulates wall-clock and process CPU seconds over ``start()`` / ``stop()`` intervals.

    With one torch thread the CPU seconds are what the wall clock would read on a free core; on a
    shared machine the wall clock also counts the time other jobs held the core.
    """

    def __init__(self):
        self.wall = self.cpu = 0.0
        self._began = None

    def start(self) -> None:
        self._began = (time.perf_counter(), time.process_time())

    def stop(self) -> None:
        self.wall += time.perf_counter() - self._began[0]
        self.cpu += time.process_time() - self._began[1]

    def per_face(self, count: int) -> dict:
        return {"seconds_per_face": round(self.wall / count, 3), "cpu_seconds_per_face": round(self.cpu / count, 3)}


@torch.no_grad()
def score(images, targets, alex, vgg) -> dict:
    """Per-image metrics ``{name: [N]}`` of reconstructions against targets."""
    return {"lpips_alex": lpips_distance(alex, images, targets), "lpips_vgg": lpips_distance(vgg, images, targets),
            "psnr": psnr(images, targets)}


def add_scores(curve: dict, step: int, images, targets, alex, vgg) -> None:
    for key, value in score(images, targets, alex, vgg).items():
        curve.setdefault(step, {}).setdefault(key, []).append(value)


def project_route(G, targets, nets, config, every, batch, w_stats, init=None):
    """Project all targets; returns (curve {step: metrics[N]}, latents, noise, timing per face).

    ``nets`` = (loss, alex, vgg); ``init``: starting latents ``[N, ...]`` or None for ``w_avg``.
    """
    loss_net, alex, vgg = nets
    curve, latents, noises, clock = {}, [], [], Stopwatch()
    for start in range(0, len(targets), batch):
        chunk = targets[start:start + batch]
        chunk_init = None if init is None else init[start:start + batch]
        begin = G.mapping.w_avg.reshape(1, -1).expand(len(chunk), -1) if chunk_init is None else chunk_init
        with torch.no_grad():
            add_scores(curve, 0, G.synthesis(to_wplus(begin, G.num_ws), noise_mode="const"), chunk, alex, vgg)
        clock.start()
        for step in project(G, chunk, loss_net, config, seed=list(range(start, start + len(chunk))),
                            init=chunk_init, w_stats=w_stats):
            done = step.step + 1
            if done % every == 0 or done == config.num_steps:
                clock.stop()
                with torch.no_grad():
                    add_scores(curve, done, synthesize(G, to_wplus(step.latent, G.num_ws), step.noise), chunk,
                               alex, vgg)
                clock.start()
        latents.append(step.latent)
        noises.append({k: v.clone() for k, v in step.noise.items()})
        print(f"  {config.space} projection: faces {start}-{start + len(chunk) - 1} done", file=sys.stderr, flush=True)
    curve = {s: {k: torch.cat(v) for k, v in m.items()} for s, m in curve.items()}
    noise = {k: torch.cat([n[k] for n in noises]) for k in noises[0]}
    return curve, torch.cat(latents), noise, clock.per_face(len(targets))


def tune_all(G, targets, pivots, noise, nets, config: PTIConfig, every, w_std):
    """PTI per face from the pivots; returns (curve, timing and delta statistics)."""
    loss_net, alex, vgg = nets
    curve, clock, fp16_error, delta_bytes = {}, Stopwatch(), 0.0, 0
    for i in range(len(targets)):
        synthesis = tuned_synthesis_copy(G)
        face_noise = {k: v[i:i + 1] for k, v in noise.items()}
        ws = to_wplus(pivots[i:i + 1], G.num_ws)
        clock.start()
        for step in pivotal_tuning_steps(G, synthesis, targets[i:i + 1], pivots[i:i + 1], loss_net, config,
                                         noise=face_noise, seed=i, w_std=w_std):
            done = step.step + 1
            if done % every == 0 or done == config.num_steps:
                clock.stop()
                with torch.no_grad():
                    add_scores(curve, done, synthesize(G, ws, face_noise, synthesis=synthesis), targets[i:i + 1],
                               alex, vgg)
                clock.start()
        delta = weight_delta(G.synthesis, synthesis.requires_grad_(False), torch.float16)
        delta_bytes += sum(v.numel() * v.element_size() for v in delta.values())
        with torch.no_grad():
            exact = synthesize(G, ws, face_noise, synthesis=synthesis)
            stored = synthesize(apply_delta(G, delta), ws, face_noise)
        fp16_error = max(fp16_error, float((exact - stored).abs().max()))
        if (i + 1) % 10 == 0:
            print(f"  PTI: {i + 1} faces done", file=sys.stderr, flush=True)
    curve = {s: {k: torch.cat(v) for k, v in m.items()} for s, m in curve.items()}
    full_bytes = sum(p.numel() * 4 for p in G.synthesis.parameters())
    return curve, {**clock.per_face(len(targets)), "fp16_max_abs_error": fp16_error,
                   "delta_bytes_per_face": delta_bytes / len(targets), "synthesis_float32_bytes": full_bytes}


def summarise(curve: dict) -> list:
    return [{"step": s, **{k: round(float(v.mean()), 4) for k, v in m.items()}} for s, m in sorted(curve.items())]


def images_seen(generator: str | None) -> str:
    """What the generator's model card says it has seen (``N images seen``), or ``unknown``."""
    folder = DEFAULT_GENERATOR_DIR if generator is None else Path(generator)
    card = (folder if folder.is_dir() else folder.parent) / "MODEL_CARD.md"
    if generator is not None and not folder.is_dir():
        return "unknown (no model card)"
    if not card.is_file():
        return "unknown (no model card)"
    found = re.search(r"([\d,.]+\s*[kM]?) images seen", card.read_text("utf-8"))
    return found.group(1).strip() if found else "unknown (the model card does not say)"


def markdown(results: dict) -> str:
    """The benchmark as markdown: a header naming generator, faces, command and machine, then the table."""
    lines = [f"Generator: `{results['generator']}`, identity `{results['identity'][:12]}`, "
             f"images seen (its model card): {results['images_seen']}; {results['faces']} held-out faces, {results['targets']}.",
             f"Command: `{results['command']}`",
             f"Machine: torch {torch.__version__}, {results['settings']['threads']} thread(s), load average "
             f"{results['load_average'][0]:.1f} at the start, {results['load_average'][1]:.1f} at the end; "
             f"{results['date']}, {results['minutes']:.1f} min wall, {results['cpu_minutes']:.1f} min CPU.", "",
             "| method | step | LPIPS AlexNet | LPIPS VGG16 | PSNR dB | CPU s / face | wall s / face |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for route in ROUTES:
        if route not in results:
            continue
        for row in results[route]["curve"]:
            final = row is results[route]["curve"][-1]
            timing = (f"{results[route]['cpu_seconds_per_face']:.1f} | {results[route]['seconds_per_face']:.1f}"
                      if final else " | ")
            lines.append(f"| {route} | {row['step']} | {row['lpips_alex']:.4f} | {row['lpips_vgg']:.4f} | "
                         f"{row['psnr']:.2f} | {timing} |")
    if "encoder" in results["settings"]["routes"] and "W+ from encoder" not in results:
        lines += ["", "W+ from encoder: skipped, this generator has no matching encoder "
                      "(`inversion.projection.encoder.encoder_for`)."]
    if "W+ then PTI" in results:
        pti = results["W+ then PTI"]
        lines += ["", f"PTI delta: {pti['delta_bytes_per_face'] / 1e3:.0f} KB per face in float16 (synthesis "
                      f"in float32: {pti['synthesis_float32_bytes'] / 1e3:.0f} KB); float16 storage changes the "
                      f"tuned rendering by at most {pti['fp16_max_abs_error']:.1e} (images in [-1, 1])."]
    return "\n".join(lines)


def write_json(path: Path, results: dict) -> None:
    """Write ``results`` as JSON atomically (a temporary file beside ``path``, then a rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(results, indent=1))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-g", "--generator", default=None, help="checkpoint (default: the embedded default generator)")
    parser.add_argument("--faces", type=int, default=HELD_OUT_FACES128)
    parser.add_argument("--steps", type=int, default=40, help="projector steps of each route")
    parser.add_argument("--pti-steps", type=int, default=20)
    parser.add_argument("--every", type=int, default=10, help="score every this many steps")
    parser.add_argument("--batch", type=int, default=50, help="faces projected together")
    parser.add_argument("--lpips", default="vgg", choices=["vgg", "alex"], help="loss network of projector and PTI")
    parser.add_argument("--pti-lr", type=float, default=None, help="PTI learning rate (default: PTIConfig's)")
    parser.add_argument("--pti-alpha", type=float, default=None, help="PTI locality radius (default: PTIConfig's)")
    parser.add_argument("--pti-alpha-units", default=None, choices=["w_std", "w"], help="units of --pti-alpha")
    parser.add_argument("--routes", default="w,w+,encoder,pti",
                        help="comma list of w, w+, encoder (W+ from the encoder), pti (needs w+)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    args.routes = {name.strip() for name in args.routes.split(",") if name.strip()}
    unknown = args.routes - {"w", "w+", "encoder", "pti"}
    if unknown or not args.routes:
        parser.error(f"--routes: unknown {sorted(unknown)}; use w, w+, encoder, pti" if unknown else "--routes is empty")
    if "pti" in args.routes and args.pti_steps > 0 and "w+" not in args.routes:
        parser.error("--routes: pti tunes from the W+ pivots, so it needs w+")
    return args


def pti_config(args) -> PTIConfig:
    """:class:`PTIConfig` defaults with the steps and any ``--pti-*`` settings of the command line."""
    chosen = {"learning_rate": args.pti_lr, "locality_alpha": args.pti_alpha,
              "locality_alpha_units": args.pti_alpha_units}
    return PTIConfig(num_steps=args.pti_steps, **{k: v for k, v in chosen.items() if v is not None})


def run_routes(G, targets, nets, args, w_stats) -> dict:
    """The chosen routes' curves and timings, keyed by their names in :data:`ROUTES`."""
    results, pivots, noise = {}, None, None
    plan = [("W", "w", None)] if "w" in args.routes else []
    plan += [("W+", "w+", None)] if "w+" in args.routes else []
    encoder = encoder_for(G) if "encoder" in args.routes else None
    if encoder is not None:
        with torch.no_grad():
            plan.append(("W+ from encoder", "w+", encoder(targets)))
    for route, space, init in plan:
        config = ProjectorConfig(space=space, num_steps=args.steps)
        curve, latents, route_noise, timing = project_route(G, targets, nets, config, args.every, args.batch,
                                                            w_stats, init)
        results[route] = {"curve": summarise(curve), **timing}
        if route == "W+":
            pivots, noise = latents, route_noise
    if args.pti_steps > 0 and "pti" in args.routes:
        curve, stats = tune_all(G, targets, pivots, noise, nets, pti_config(args), args.every, w_stats[1])
        results["W+ then PTI"] = {"curve": summarise(curve), **stats}
    return results


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    began, load_start = (time.perf_counter(), time.process_time()), os.getloadavg()[0]
    G = load_generator(args.generator, torch.device("cpu"))
    alex, vgg = LPIPS("alex"), LPIPS("vgg")
    nets = (vgg if args.lpips == "vgg" else alex, alex, vgg)
    crops = held_out_crops(args.faces)
    targets, how = prepare_targets(crops, G)
    w_stats = estimate_w_stats(G)
    for _ in project(G, targets[:1], nets[0], ProjectorConfig(num_steps=2), w_stats=w_stats):
        pass  # warm-up (first-call allocations, op loading) outside the timed routes
    results = {"generator": args.generator or "embedded default", "identity": generator_identity(G),
               "images_seen": images_seen(args.generator), "faces": len(targets), "targets": how,
               "first_face": crops[0][0], "last_face": crops[-1][0], "settings": vars(args) | {"json": None, "routes": sorted(args.routes)},
               "command": ("OMP_NUM_THREADS=1 python scripts/bench_inversion.py "
                           + shlex.join(sys.argv[1:] if argv is None else argv)).rstrip(),
               "date": time.strftime("%Y-%m-%d %H:%M %Z")}
    results.update(run_routes(G, targets, nets, args, w_stats))
    results["load_average"] = [load_start, os.getloadavg()[0]]
    results["minutes"] = (time.perf_counter() - began[0]) / 60
    results["cpu_minutes"] = (time.process_time() - began[1]) / 60
    print(markdown(results))
    if args.json:
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
