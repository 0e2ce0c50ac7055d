"""Quality figures of the embedded default generator + encoder (and its default directions).

Printed as JSON (and written to ``--json``); grids written to ``docs/``:

* reconstruction on the 50 held-out faces128 faces (last 50 rows of labels.csv, tight-aligned,
  64 px): LPIPS (alex, grey repeated to RGB) and PSNR of ``G.synthesis(E(x))``, of ``w_avg`` alone
  (the floor), and of E followed by ``--project-steps`` projector steps (W+, started at E's answer);
* KID (polynomial kernel, unbiased, 50 subsets of 100) between ``--kid-num`` random samples
  (truncation 1) and as many held-out real faces (FER2013 PublicTest, tight-aligned), on the
  spatial means of the five LPIPS VGG16 taps; for scale, the KID of training faces vs the same;
* the share of random samples (truncation 1) in which the project's HOG detector finds a face
  (samples upscaled x4 to 256 px);
* rendering frames/s on the CPU (batch 1 and 16, one thread);
* with ``--directions``: :func:`directions.evaluation.evaluate_directions` of the default directions
  on encoded held-out neutral FER2013 faces, judged by the shipped classifier and dlib identity.

    python scripts/evaluate_default_generator.py --json /work/runs/generator/eval.json --directions
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from inversion.checkpoints import load_generator
from inversion.projection.encoder import encoder_for
from inversion.projection.lpips import LPIPS
from inversion.projection.projector import ProjectorConfig, project, psnr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from train_default_generator import rgb, save_grid  # noqa: E402


def to_float(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).float().unsqueeze(1) / 127.5 - 1.0


@torch.no_grad()
def reconstruction(G, E, lpips, held: torch.Tensor, steps: int) -> tuple[dict, torch.Tensor]:
    ws = E(held)
    rec = G.synthesis(ws, noise_mode="const")
    avg = G.synthesis(G.mapping.w_avg.expand(len(held), G.num_ws, -1), noise_mode="const")
    out = {"faces": len(held),
           "encoder": {"lpips": float(lpips(rgb(rec), rgb(held)).mean()), "psnr": float(psnr(rec, held).mean())},
           "w_avg": {"lpips": float(lpips(rgb(avg), rgb(held)).mean()), "psnr": float(psnr(avg, held).mean())}}
    if steps > 0:
        with torch.enable_grad():
            config = ProjectorConfig(space="w+", num_steps=steps, initial_learning_rate=0.02,
                                     initial_noise_factor=0.0, optimize_noise=False, w_avg_samples=2000)
            last = None
            for last in project(G, held, lpips, config, seed=0, init=ws):
                pass
        proj = G.synthesis(last.latent.detach(), noise_mode="const")
        out[f"encoder+{steps}_steps"] = {"lpips": float(lpips(rgb(proj), rgb(held)).mean()),
                                         "psnr": float(psnr(proj, held).mean())}
    return out, rec


@torch.no_grad()
def vgg_features(vgg: LPIPS, images: torch.Tensor, batch: int = 100) -> torch.Tensor:
    feats = []
    for start in range(0, len(images), batch):
        taps = vgg.features(rgb(images[start:start + batch]))
        feats.append(torch.cat([t.mean(dim=(2, 3)) for t in taps], dim=1))
    return torch.cat(feats).double()


def kid(a: torch.Tensor, b: torch.Tensor, subsets: int = 50, size: int = 100, seed: int = 0) -> float:
    """Unbiased MMD^2 with the kernel (x.y / d + 1)^3, averaged over random subsets (x1000 = KIDx1000)."""
    gen = torch.Generator().manual_seed(seed)
    d, total = a.shape[1], 0.0
    for _ in range(subsets):
        x = a[torch.randperm(len(a), generator=gen)[:size]]
        y = b[torch.randperm(len(b), generator=gen)[:size]]
        kxx, kyy, kxy = [(p @ q.T / d + 1) ** 3 for p, q in ((x, x), (y, y), (x, y))]
        m = size
        total += float((kxx.sum() - kxx.diag().sum()) / (m * (m - 1)) + (kyy.sum() - kyy.diag().sum()) / (m * (m - 1))
                       - 2 * kxy.mean())
    return total / subsets


@torch.no_grad()
def samples(G, num: int, seed: int, psi: float = 1.0) -> torch.Tensor:
    z = torch.randn([num, G.z_dim], generator=torch.Generator().manual_seed(seed))
    return torch.cat([G(z[i:i + 100], truncation_psi=psi, noise_mode="const") for i in range(0, num, 100)])


def detection_share(images: torch.Tensor) -> float:
    import cv2

    from inversion.faces.detection import detect_faces

    found = 0
    for img in images:
        grey = ((img[0].clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
        big = cv2.resize(grey, (256, 256), interpolation=cv2.INTER_CUBIC)
        found += bool(detect_faces(np.repeat(big[:, :, None], 3, axis=2), detector="hog", min_face=0))
    return found / len(images)


@torch.no_grad()
def render_fps(G) -> dict:
    out = {}
    for batch in (1, 16):
        ws = G.mapping(torch.randn(batch, G.z_dim, generator=torch.Generator().manual_seed(0)))
        G.synthesis(ws, noise_mode="const")
        start, n = time.perf_counter(), 0
        while time.perf_counter() - start < 3.0:
            G.synthesis(ws, noise_mode="const")
            n += batch
        out[f"batch_{batch}"] = n / (time.perf_counter() - start)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("/work/runs/facedata/faces64.npz"))
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--kid-num", type=int, default=1000)
    p.add_argument("--detect-num", type=int, default=200)
    p.add_argument("--project-steps", type=int, default=50)
    p.add_argument("--directions", action="store_true")
    p.add_argument("--docs", type=Path, default=ROOT / "docs")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    G = load_generator(None)
    E = encoder_for(G)
    data = np.load(args.data)
    held = to_float(data["images"][(data["split"] == 1) & (data["source"] == 0)])
    lpips = LPIPS("alex")
    result = {}
    result["reconstruction"], rec = reconstruction(G, E, lpips, held, args.project_steps)
    save_grid(torch.stack([held[:32], rec[:32]], dim=1).flatten(0, 1), args.docs / "default_generator_reconstructions.png", 16)
    fake = samples(G, args.kid_num, seed=1)
    save_grid(samples(G, 64, seed=2, psi=0.7), args.docs / "default_generator_samples.png", 16)
    real_idx = np.flatnonzero((data["source"] == 1) & (data["split"] == 1))[: args.kid_num]
    train_idx = np.flatnonzero(data["split"] == 0)
    train_idx = train_idx[np.random.default_rng(0).permutation(len(train_idx))[: args.kid_num]]
    vgg = LPIPS("vgg")
    f_real, f_fake = vgg_features(vgg, to_float(data["images"][real_idx])), vgg_features(vgg, fake)
    f_train = vgg_features(vgg, to_float(data["images"][train_idx]))
    result["kid_vgg"] = {"samples_vs_heldout": kid(f_fake, f_real), "train_vs_heldout": kid(f_train, f_real),
                         "num": args.kid_num}
    result["hog_face_share"] = {"samples": detection_share(fake[: args.detect_num]),
                                "real_heldout": detection_share(to_float(data["images"][real_idx[: args.detect_num]])),
                                "num": args.detect_num}
    result["render_fps_cpu_1thread"] = render_fps(G)
    if args.directions:
        result["directions"] = evaluate_default_directions(G, E, data)
    text = json.dumps(result, indent=1)
    print(text)
    if args.directions:
        from directions.evaluation import format_table
        print(format_table(result["directions"]))
    if args.json:
        args.json.write_text(text)
    return 0


def evaluate_default_directions(G, E, data, num: int = 64) -> dict:
    """Edit success / identity drift of the default directions on encoded held-out neutral faces."""
    from directions.classifier import EmotionClassifier
    from directions.direction_file import load_directions
    from directions.emotions import EMOTIONS
    from directions.evaluation import DlibIdentity, evaluate_directions
    from inversion.checkpoints import generator_identity

    path = ROOT / "directions" / "models" / "default_directions" / "directions.pt"
    directions = load_directions(path, generator_identity(G))
    mask = (data["source"] == 1) & (data["split"] == 1) & (data["labels"] == EMOTIONS.index("neutral"))
    faces = to_float(data["images"][np.flatnonzero(mask)[:num]])
    with torch.no_grad():
        ws = E(faces)
    clf = EmotionClassifier.load(None)
    return evaluate_directions(G, directions, clf.predict, describe=DlibIdentity(), latents=ws,
                               strengths=(0.0, 1.0, 2.0, 4.0))


if __name__ == "__main__":
    sys.exit(main())
