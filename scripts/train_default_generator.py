"""Train the embedded default generator and its encoder on the CPU (the SplitGAN route).

``G`` (the project's StyleGAN2, 64 px grey, tight alignment) is trained jointly with an encoder ``E``
(:mod:`inversion.projection.encoder`) as its decoder: reconstruction L1 + LPIPS (alex, grey repeated to RGB) of
``G.synthesis(E(x))`` against real aligned faces, plus a light non-saturating adversarial loss (the
project's discriminator ``D``, lazy R1) on reconstructions and on random samples ``G(mapping(z))``.
Latent regularisers keep ``E``'s W+ close to one W (per-layer offsets shrink) and close to the
mapping's distribution (first and second moments matched; ``E`` also re-encodes random samples to
the ``w`` they came from), so that ``facelatent generate`` makes faces and directions fitted in W
work. EMA copies of G and E are what gets exported.

Data: ``scripts/prepare_face_data.py`` (split 0 only; split 1 is held out).

    python scripts/train_default_generator.py --minutes 60            # fresh (or --resume)
    python scripts/train_default_generator.py --export                # last.pt → inversion/models/default_generator/

``--resume`` continues from ``<run>/last.pt`` (weights, optimisers, EMA, RNG state, counters).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from inversion.checkpoints.native import atomic_torch_save, build_generator
from inversion.projection.encoder import Encoder
from inversion.networks.discriminator import Discriminator

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = ROOT / "inversion" / "models" / "default_generator"
G_CONFIG = {"network": "stylegan2", "z_dim": 128, "c_dim": 0, "w_dim": 128, "img_resolution": 64,
            "img_channels": 1, "mapping_kwargs": {"num_layers": 4, "lr_multiplier": 0.1},
            "synthesis_kwargs": {"channel_base": 2048, "channel_max": 128}, "alignment": "tight"}
D_KWARGS = {"c_dim": 0, "img_resolution": 64, "img_channels": 1, "channel_base": 1024, "channel_max": 128}
E_KWARGS = {"channels": (16, 32, 64, 128), "hidden": 512}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("/work/runs/facedata/faces64.npz"))
    p.add_argument("--run", type=Path, default=Path("/work/runs/generator"))
    p.add_argument("--resume", action="store_true")
    p.add_argument("--export", action="store_true", help="write last.pt's EMA networks into the package")
    p.add_argument("--export-dir", type=Path, default=MODEL_DIR)
    p.add_argument("--minutes", type=float, default=60.0, help="wall-clock budget of this run")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=0.002)
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast on the CPU")
    p.add_argument("--w-lpips", type=float, default=1.0)
    p.add_argument("--w-adv-rec", type=float, default=0.05)
    p.add_argument("--w-adv-fake", type=float, default=0.2)
    p.add_argument("--w-single", type=float, default=0.1, help="per-layer offsets (pull W+ to one W)")
    p.add_argument("--w-moments", type=float, default=1.0, help="E's w vs mapping's w: mean and std")
    p.add_argument("--w-cycle", type=float, default=1.0, help="E re-encodes random samples to their w")
    p.add_argument("--train-noise", choices=("random", "const"), default="random",
                   help="noise maps while training (rendering uses const)")
    p.add_argument("--adv-every", type=int, default=1, help="adversarial terms and D every N steps")
    p.add_argument("--r1-gamma", type=float, default=0.5)
    p.add_argument("--r1-every", type=int, default=16)
    p.add_argument("--ema-images", type=float, default=2000.0)
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--snap-minutes", type=float, default=5.0)
    p.add_argument("--half", action="store_true", help="export float16 weights")
    return p.parse_args(argv)


def load_training_faces(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """(training faces uint8 [N, 1, S, S], held-out faces128 faces uint8 [M, 1, S, S])."""
    data = np.load(path)
    train = data["images"][data["split"] == 0]
    held = data["images"][(data["split"] == 1) & (data["source"] == 0)]
    return torch.from_numpy(train).unsqueeze(1), torch.from_numpy(held).unsqueeze(1)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 1, S, S] → float32 in [-1, 1]."""
    return images.float() / 127.5 - 1.0


def build(args) -> dict:
    torch.manual_seed(args.seed)
    G = build_generator(G_CONFIG)
    D = Discriminator(**D_KWARGS)
    E = Encoder(img_resolution=64, img_channels=1, num_ws=G.num_ws, w_dim=G.w_dim, **E_KWARGS)
    state = {"G": G, "D": D, "E": E, "G_ema": copy.deepcopy(G).eval(), "E_ema": copy.deepcopy(E).eval()}
    for name in ("G_ema", "E_ema"):
        state[name].requires_grad_(False)
    groups = [{"params": list(G.parameters())}, {"params": list(E.parameters()), "lr": args.lr * 0.5}]
    state["opt_GE"] = torch.optim.Adam(groups, lr=args.lr, betas=(0.5, 0.99))
    state["opt_D"] = torch.optim.Adam(D.parameters(), lr=args.lr, betas=(0.0, 0.99))
    state["gen"] = torch.Generator().manual_seed(args.seed)
    state["counters"] = {"step": 0, "images": 0, "seconds": 0.0}
    return state


def save_state(state: dict, path: Path) -> None:
    blob = {k: state[k].state_dict() for k in ("G", "D", "E", "G_ema", "E_ema", "opt_GE", "opt_D")}
    blob.update(gen=state["gen"].get_state(), torch_rng=torch.get_rng_state(), counters=state["counters"],
                g_config=G_CONFIG, e_config=state["E"].config)
    atomic_torch_save(blob, path)


def load_state(state: dict, path: Path) -> None:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    for k in ("G", "D", "E", "G_ema", "E_ema", "opt_GE", "opt_D"):
        state[k].load_state_dict(blob[k])
    state["gen"].set_state(blob["gen"])
    torch.set_rng_state(blob["torch_rng"])
    state["counters"] = dict(blob["counters"])


def rgb(x: torch.Tensor) -> torch.Tensor:
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def ge_step(state: dict, lpips, x: torch.Tensor, args, adversarial: bool) -> tuple:
    """One update of G and E; returns the losses (floats) and the detached images for D.

    Without ``adversarial`` only the reconstruction and the moments are trained (3x cheaper).
    """
    G, D, E, gen = state["G"], state["D"], state["E"], state["gen"]
    n = x.shape[0]
    E.w_avg.copy_(G.mapping.w_avg)
    z = torch.randn([n, G.z_dim], generator=gen)
    ws_map = G.mapping(z, update_emas=True)
    shared, per_layer = E.offsets(x)
    ws_enc = (E.w_avg + shared).unsqueeze(1) + per_layer
    both = G.synthesis(torch.cat([ws_enc, ws_map]) if adversarial else ws_enc, noise_mode=args.train_noise,
                       generator=gen)
    rec, fake = both[:n], (both[n:] if adversarial else None)
    losses = {"l1": (rec - x).abs().mean(), "lpips": lpips(rgb(rec), rgb(x)).mean(),
              "single": per_layer.square().mean()}
    w_enc, w_map = ws_enc.mean(dim=1), ws_map[:, 0]
    losses["moments"] = ((w_enc.mean(0) - w_map.mean(0)).square().mean()
                         + (w_enc.std(0) - w_map.std(0)).square().mean())
    weights = {"l1": 1.0, "lpips": args.w_lpips, "single": args.w_single, "moments": args.w_moments,
               "adv_rec": args.w_adv_rec, "adv_fake": args.w_adv_fake, "cycle": args.w_cycle}
    if adversarial:
        logits = D(both)
        losses["adv_rec"] = F.softplus(-logits[:n]).mean()
        losses["adv_fake"] = F.softplus(-logits[n:]).mean()
        losses["cycle"] = (E(fake.detach()) - ws_map.detach()).square().mean()
    total = sum(weights[k] * v for k, v in losses.items())
    state["opt_GE"].zero_grad(set_to_none=True)
    total.backward()
    state["opt_GE"].step()
    return {k: float(v.detach()) for k, v in losses.items()}, rec.detach(), (fake.detach() if adversarial else None)


def d_step(state: dict, x: torch.Tensor, rec: torch.Tensor, fake: torch.Tensor, args) -> dict:
    """One update of D (non-saturating loss; R1 on reals every ``r1_every`` steps, scaled by it)."""
    D = state["D"]
    do_r1 = state["counters"]["step"] % (args.r1_every * args.adv_every) == 0
    real = x.detach().requires_grad_(do_r1)
    logits = D(torch.cat([real, rec, fake]))
    n = x.shape[0]
    loss = F.softplus(-logits[:n]).mean() + 0.5 * (F.softplus(logits[n:2 * n]).mean() + F.softplus(logits[2 * n:]).mean())
    out = {"d_real": float(logits[:n].mean()), "d_fake": float(logits[2 * n:].mean())}
    if do_r1:
        grad, = torch.autograd.grad(logits[:n].sum(), real, create_graph=True)
        r1 = grad.square().sum(dim=(1, 2, 3)).mean()
        loss = loss + r1 * (args.r1_gamma / 2) * args.r1_every
        out["r1"] = float(r1)
    state["opt_D"].zero_grad(set_to_none=True)
    loss.backward()
    state["opt_D"].step()
    return out


@torch.no_grad()
def update_ema(state: dict, batch: int, args) -> None:
    beta = 0.5 ** (batch / max(args.ema_images, 1e-8))
    if state["counters"]["images"] < 5 * args.ema_images:  # ramp-up: follow closely at first
        beta = min(beta, 0.5 ** (batch / max(0.1 * state["counters"]["images"], batch)))
    for src, dst in (("G", "G_ema"), ("E", "E_ema")):
        for p, q in zip(state[src].parameters(), state[dst].parameters()):
            q.copy_(p.detach().lerp(q, beta))
        for b, c in zip(state[src].buffers(), state[dst].buffers()):
            c.copy_(b)


def save_grid(images: torch.Tensor, path: Path, cols: int) -> None:
    """Images [N, 1|3, H, W] in [-1, 1] → a PNG grid, ``cols`` wide (atomic)."""
    arr = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()
    arr = arr.expand(-1, 3, -1, -1) if arr.shape[1] == 1 else arr
    n, _, h, w = arr.shape
    rows = math.ceil(n / cols)
    canvas = torch.zeros([3, rows * h, cols * w], dtype=torch.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        canvas[:, r * h:(r + 1) * h, c * w:(c + 1) * w] = arr[i]
    tmp = path.with_name(f".{path.name}.tmp.png")
    Image.fromarray(canvas.permute(1, 2, 0).numpy()).save(tmp)
    os.replace(tmp, path)


@torch.no_grad()
def snapshot(state: dict, held: torch.Tensor, args) -> None:
    G, E = state["G_ema"], state["E_ema"]
    x = to_float(held[:16])
    rec = G.synthesis(E(x), noise_mode="const")
    pairs = torch.stack([x, rec], dim=1).flatten(0, 1)
    save_grid(pairs, args.run / "reconstructions.png", cols=8)
    z = torch.randn([32, G.z_dim], generator=torch.Generator().manual_seed(123))
    save_grid(G(z, truncation_psi=0.7, noise_mode="const"), args.run / "samples.png", cols=8)
    save_state(state, args.run / "last.pt")


def train(args) -> None:
    torch.set_num_threads(args.threads)
    args.run.mkdir(parents=True, exist_ok=True)
    from inversion.projection.lpips import LPIPS

    faces, held = load_training_faces(args.data)
    state = build(args)
    if args.resume:
        load_state(state, args.run / "last.pt")
    lpips = LPIPS("alex")
    c = state["counters"]
    print(json.dumps({"event": "start", "faces": len(faces), "held_out": len(held), "resume": args.resume,
                      "counters": c, "args": {k: str(v) for k, v in vars(args).items()}}), flush=True)
    start, sums, counts = time.perf_counter(), {}, {}
    last_snap = last_log = start
    base_seconds = c["seconds"]
    while True:
        idx = torch.randint(len(faces), [args.batch], generator=state["gen"])
        x = to_float(faces[idx])
        flip = torch.rand([args.batch], generator=state["gen"]) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
        adversarial = c["step"] % args.adv_every == 0
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            losses, rec, fake = ge_step(state, lpips, x, args, adversarial)
            if adversarial:
                losses.update(d_step(state, x, rec, fake, args))
        c["step"] += 1
        c["images"] += args.batch
        c["seconds"] = base_seconds + time.perf_counter() - start
        update_ema(state, args.batch, args)
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + v
            counts[k] = counts.get(k, 0) + 1
        if c["step"] % args.log_every == 0:
            rate = args.batch * args.log_every / max(time.perf_counter() - last_log, 1e-9)
            last_log = time.perf_counter()
            print(json.dumps({"step": c["step"], "images": c["images"], "seconds": round(c["seconds"], 1),
                              "img_per_s": round(rate, 2),
                              **{k: round(v / counts[k], 4) for k, v in sums.items()}}), flush=True)
            sums, counts = {}, {}
        done = time.perf_counter() - start > args.minutes * 60 or (args.max_steps and c["step"] >= args.max_steps)
        if done or time.perf_counter() - last_snap > args.snap_minutes * 60:
            snapshot(state, held, args)
            last_snap = time.perf_counter()
            print(json.dumps({"event": "snapshot", **c}), flush=True)
        if done:
            break


def export(args) -> None:
    """last.pt's G_ema + E_ema → ``args.export_dir`` (weights.pt, config.json, encoder.pt)."""
    from inversion.checkpoints import generator_identity, load_generator
    from inversion.checkpoints.native import save_generator
    from inversion.projection.encoder import save_encoder

    blob = torch.load(args.run / "last.pt", map_location="cpu", weights_only=True)
    G = build_generator(blob["g_config"])
    G.load_state_dict(blob["G_ema"])
    save_generator(G.half() if args.half else G, args.export_dir)
    loaded = load_generator(args.export_dir)
    identity = generator_identity(loaded)
    e_config = dict(blob["e_config"], generator_identity=identity)
    E = Encoder(**e_config)
    E.load_state_dict(blob["E_ema"])
    E.w_avg.copy_(loaded.mapping.w_avg)
    save_encoder(E, args.export_dir / "encoder.pt", half=args.half)
    print(json.dumps({"event": "export", "dir": str(args.export_dir), "identity": identity,
                      "counters": blob["counters"]}))


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.export:
        export(args)
    else:
        train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
