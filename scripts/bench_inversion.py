"""Benchmark inversion: LPIPS and PSNR against steps for W, W+ and W+ with pivotal tuning.

Held-out faces: the last ``--faces`` rows of ``../shared/data/faces128/faces128.tar``'s
``labels.csv`` (128 x 128 grey tight crops, never used to train the default generator), resized
(area) to the generator's resolution, grey repeated to RGB for 3-channel generators.

For each space the faces are projected in batches of ``--batch`` with the default projector settings
(LPIPS ``--lpips`` loss, the official schedule), and at every ``--every`` steps the reconstruction is
scored: LPIPS AlexNet (an evaluation network other than the VGG16 loss), LPIPS VGG16 and PSNR, means
over the faces. Pivotal tuning (default PTI settings, ``--pti-steps``) starts from the final W+ pivots.
Also reported: seconds per face (batched projection; PTI per face), and the error of storing the PTI
delta in float16. Run by hand; keep it modest on a shared CPU::

    python scripts/bench_inversion.py -g ../shared/fixtures/stylegan2-ada_64_random.pkl
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from inversion.checkpoints import load_generator
from inversion.lpips import LPIPS
from inversion.projector import ProjectorConfig, estimate_w_stats, lpips_distance, project, psnr, synthesize, to_wplus
from inversion.pti import PTIConfig, apply_delta, pivotal_tuning_steps, tuned_synthesis_copy, weight_delta

REPO = Path(__file__).resolve().parents[1]
FACES_TAR = REPO.parent / "shared" / "data" / "faces128" / "faces128.tar"


def held_out_faces(count: int, size: int, channels: int) -> torch.Tensor:
    """The last ``count`` labelled faces as ``[count, channels, size, size]`` in [-1, 1]."""
    with tarfile.open(FACES_TAR) as tar:
        names = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
        labels = [row for row in csv.reader(io.TextIOWrapper(tar.extractfile(names["labels.csv"]), "utf-8"))]
        rows = [r for r in labels[1:] if r and r[0] in names][-count:]
        images = []
        for image_name, _ in rows:
            grey = Image.open(io.BytesIO(tar.extractfile(names[image_name]).read())).convert("L")
            grey = grey.resize((size, size), Image.BOX if grey.width > size else Image.BICUBIC)
            images.append(torch.from_numpy(np.asarray(grey, np.float32))[None] / 127.5 - 1)
    faces = torch.stack(images)
    return faces.repeat(1, 3, 1, 1) if channels == 3 else faces


@torch.no_grad()
def score(images, targets, alex, vgg) -> dict:
    """Per-image metrics ``{name: [N]}`` of reconstructions against targets."""
    return {"lpips_alex": lpips_distance(alex, images, targets), "lpips_vgg": lpips_distance(vgg, images, targets),
            "psnr": psnr(images, targets)}


def project_space(G, targets, loss_net, alex, vgg, space, steps, every, batch, w_stats):
    """Project all targets into ``space``; returns (curve {step: metrics[N]}, latents, noise, seconds/face)."""
    curve, latents, noises, seconds = {}, [], [], 0.0
    for start in range(0, len(targets), batch):
        chunk = targets[start:start + batch]
        began = time.perf_counter()
        for step in project(G, chunk, loss_net, ProjectorConfig(space=space, num_steps=steps),
                            seed=list(range(start, start + len(chunk))), w_stats=w_stats):
            done = step.step + 1
            if done % every == 0 or done == steps:
                seconds += time.perf_counter() - began
                images = synthesize(G, to_wplus(step.latent, G.num_ws), step.noise)
                for key, value in score(images, chunk, alex, vgg).items():
                    curve.setdefault(done, {}).setdefault(key, []).append(value)
                began = time.perf_counter()
        latents.append(step.latent)
        noises.append({k: v.clone() for k, v in step.noise.items()})
        print(f"  {space}: faces {start}-{start + len(chunk) - 1} done", file=sys.stderr, flush=True)
    curve = {s: {k: torch.cat(v) for k, v in m.items()} for s, m in curve.items()}
    noise = {k: torch.cat([n[k] for n in noises]) for k in noises[0]}
    return curve, torch.cat(latents), noise, seconds / len(targets)


def tune_all(G, targets, pivots, noise, loss_net, alex, vgg, steps, every):
    """PTI per face from the pivots; returns (curve, seconds per face, delta stats)."""
    curve, seconds, fp16_error, delta_bytes = {}, 0.0, 0.0, 0
    for i in range(len(targets)):
        synthesis = tuned_synthesis_copy(G)
        face_noise = {k: v[i:i + 1] for k, v in noise.items()}
        began = time.perf_counter()
        for step in pivotal_tuning_steps(G, synthesis, targets[i:i + 1], pivots[i:i + 1], loss_net,
                                         PTIConfig(num_steps=steps), noise=face_noise, seed=i):
            done = step.step + 1
            if done % every == 0 or done == steps:
                seconds += time.perf_counter() - began
                with torch.no_grad():
                    images = synthesize(G, to_wplus(pivots[i:i + 1], G.num_ws), face_noise, synthesis=synthesis)
                for key, value in score(images, targets[i:i + 1], alex, vgg).items():
                    curve.setdefault(done, {}).setdefault(key, []).append(value)
                began = time.perf_counter()
        delta = weight_delta(G.synthesis, synthesis.requires_grad_(False), torch.float16)
        delta_bytes += sum(v.numel() * v.element_size() for v in delta.values())
        with torch.no_grad():
            exact = synthesize(G, to_wplus(pivots[i:i + 1], G.num_ws), face_noise, synthesis=synthesis)
            stored = synthesize(apply_delta(G, delta), to_wplus(pivots[i:i + 1], G.num_ws), face_noise)
        fp16_error = max(fp16_error, float((exact - stored).abs().max()))
        if (i + 1) % 10 == 0:
            print(f"  PTI: {i + 1} faces done", file=sys.stderr, flush=True)
    curve = {s: {k: torch.cat(v) for k, v in m.items()} for s, m in curve.items()}
    full_bytes = sum(p.numel() * 4 for p in G.synthesis.parameters())
    return curve, seconds / len(targets), {"fp16_max_abs_error": fp16_error,
                                           "delta_bytes_per_face": delta_bytes / len(targets),
                                           "synthesis_float32_bytes": full_bytes}


def summarise(curve: dict) -> list:
    return [{"step": s, **{k: round(float(v.mean()), 4) for k, v in m.items()}} for s, m in sorted(curve.items())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-g", "--generator", default=None, help="checkpoint (default: the embedded default generator)")
    parser.add_argument("--faces", type=int, default=50)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--pti-steps", type=int, default=60)
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--lpips", default="vgg", choices=["vgg", "alex"], help="loss network")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    G = load_generator(args.generator, torch.device("cpu"))
    alex, vgg = LPIPS("alex"), LPIPS("vgg")
    loss_net = vgg if args.lpips == "vgg" else alex
    targets = held_out_faces(args.faces, G.img_resolution, G.img_channels)
    w_stats = estimate_w_stats(G)
    results = {"generator": args.generator or "default", "faces": len(targets), "settings": vars(args) | {"json": None}}
    pivots = noise = None
    for space in ("w", "w+"):
        curve, latents, noise, seconds = project_space(G, targets, loss_net, alex, vgg, space, args.steps, args.every,
                                                       args.batch, w_stats)
        results[space] = {"curve": summarise(curve), "seconds_per_face": round(seconds, 3)}
        pivots = latents
    if args.pti_steps > 0:
        curve, seconds, delta = tune_all(G, targets, pivots, noise, loss_net, alex, vgg, args.pti_steps, args.every)
        results["w+ pti"] = {"curve": summarise(curve), "seconds_per_face": round(seconds, 3), **delta}
    text = json.dumps(results, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
