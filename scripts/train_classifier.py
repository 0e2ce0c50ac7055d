"""Train the FER2013 emotion classifier (directions/classifier.py) on the CPU or a GPU.

Seeded and resumable: every epoch writes ``last.pt`` (model, optimiser, scheduler, RNG state,
history) to the run folder, and ``best.pt`` whenever PublicTest accuracy improves; ``--resume``
continues from ``last.pt`` with the same result as an uninterrupted run. At the end (or with
``--export-only``) the best checkpoint is exported into directions/models/classifier/.

    python scripts/train_classifier.py --run-dir /work/runs/classifier --epochs 60 --threads 1
    python scripts/train_classifier.py --run-dir /work/runs/classifier --epochs 60 --resume
    python scripts/train_classifier.py --run-dir /work/runs/classifier --export-only
    python scripts/train_classifier.py --run-dir /work/runs/classifier_stage3 --epochs 12 --lr 0.02 \\
        --init /work/runs/classifier_stage2/best.pt --ferplus-weight 0.4 --label-smoothing 0

Recipe: random affine crops (40×40 out of 48×48 with ±10° rotation, ±10 % scale, ±4 px shift),
horizontal flip, brightness/contrast jitter, random erasing; label smoothing 0.1; optionally targets
that mix the one-hot label with the FER+ vote distribution (``--ferplus-weight``, rows aligned by
:func:`directions.fer2013.align_ferplus`); SGD with Nesterov
momentum and a one-cycle cosine schedule; bf16 autocast on CPUs that support it; evaluation with a
centre crop and its mirror image (flip test-time augmentation).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from classifier_export import export
from directions.classifier import DEFAULT_ARCH, build_model
from directions.fer2013 import ferplus_targets, read_fer2013, read_ferplus_votes
from inversion.common.output_files import atomic_torch_save

REPO = Path(__file__).resolve().parents[1]

DEFAULT_DATA = REPO.parent / "shared" / "data" / "fer2013" / "fer2013.csv.gz"
DEFAULT_VOTES = REPO.parent / "shared" / "data" / "fer2013" / "ferplus_votes.csv"


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got '{text}'") from None


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--run-dir", type=Path, default=Path("/work/runs/classifier"))
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--ferplus-weight", type=float, default=0.0,
                   help="mix this share of the FER+ vote distribution into each Training row's one-hot target")
    p.add_argument("--ferplus", type=Path, default=DEFAULT_VOTES, help="FER+ vote CSV (used when the weight > 0)")
    p.add_argument("--crop", type=int, default=40)
    p.add_argument("--widths", type=_ints, default=list(DEFAULT_ARCH["widths"]),
                   help="channels per stage, comma-separated (default: the shipped architecture's)")
    p.add_argument("--blocks", type=_ints, default=list(DEFAULT_ARCH["blocks"]),
                   help="residual blocks per stage, comma-separated (as many as --widths)")
    p.add_argument("--dropout", type=float, default=float(DEFAULT_ARCH["dropout"]))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--bf16", choices=["auto", "on", "off"], default="auto")
    p.add_argument("--patience", type=int, default=0,
                   help="stop after this many epochs without a PublicTest gain (0: never)")
    p.add_argument("--max-batches", type=int, default=0, help="debug: batches per epoch (0: all)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--init", type=Path, default=None,
                   help="start from the weights of another run's best.pt (a second, warm-restarted cycle)")
    p.add_argument("--export-only", action="store_true")
    p.add_argument("--export-dir", type=Path, default=REPO / "directions" / "models" / "classifier")
    p.add_argument("--no-export", action="store_true")
    return p.parse_args(argv)


def to_unit(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 48, 48] → float32 [N, 1, 48, 48] in [-1, 1]."""
    return images_u8.float().unsqueeze(1) / 127.5 - 1.0


def augment(x: torch.Tensor, crop: int, gen: torch.Generator) -> torch.Tensor:
    """Random affine crop (rotation, scale, shift, flip) to crop×crop, jitter and erasing; x in [-1, 1]."""
    n, _, h, _ = x.shape
    r = lambda *s: torch.rand(*s, generator=gen).to(x.device)  # noqa: E731 (CPU draws: the same on any device)
    angle = (r(n) * 2 - 1) * math.radians(10)
    scale = (1 + (r(n) * 2 - 1) * 0.1) * crop / h
    flip = torch.where(r(n) < 0.5, -1.0, 1.0)
    shift = (r(n, 2) * 2 - 1) * (4.0 / (h / 2))
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                         torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, (n, 1, crop, crop), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    contrast = 1 + (r(n, 1, 1, 1) * 2 - 1) * 0.2
    bright = (r(n, 1, 1, 1) * 2 - 1) * 0.2
    out = (out * contrast + bright).clamp(-1, 1)
    erase = r(n) < 0.5
    eh, ew = (r(n) * 0.3 * crop + 4).long(), (r(n) * 0.3 * crop + 4).long()
    ey, ex = (r(n) * (crop - eh)).long(), (r(n) * (crop - ew)).long()
    yy, xx = torch.arange(crop, device=x.device).view(1, crop, 1), torch.arange(crop, device=x.device).view(1, 1, crop)
    box = (yy >= ey.view(-1, 1, 1)) & (yy < (ey + eh).view(-1, 1, 1))
    box = box & (xx >= ex.view(-1, 1, 1)) & (xx < (ex + ew).view(-1, 1, 1))
    box &= erase.view(-1, 1, 1)
    noise = r(n, 1, crop, crop) * 2 - 1
    return torch.where(box.unsqueeze(1), noise, out)


def centre_crop(x: torch.Tensor, crop: int) -> torch.Tensor:
    if crop >= x.shape[-1]:
        return x
    o = (x.shape[-1] - crop) // 2
    return x[..., o:o + crop, o:o + crop]


@torch.no_grad()
def predict_probs(model, images_u8: torch.Tensor, crop: int, device, bf16: bool, batch: int = 64) -> torch.Tensor:
    """Softmax probabilities [N, 7] averaged over the centre crop and its mirror (flip TTA)."""
    model.eval()
    out = []
    for i in range(0, images_u8.shape[0], batch):
        x = centre_crop(to_unit(images_u8[i:i + batch]), crop).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(x).float() + model(x.flip(-1)).float()
        out.append(torch.softmax(logits / 2, dim=1).cpu())
    return torch.cat(out)


def confusion(pred: np.ndarray, labels: np.ndarray, k: int = 7) -> np.ndarray:
    """Rows: true EMOTIONS index; columns: predicted."""
    m = np.zeros((k, k), dtype=np.int64)
    np.add.at(m, (labels, pred), 1)
    return m


def train_epoch(model, opt, sched, xs, ys, epoch, args, gen, device, bf16) -> tuple[float, float, int]:
    """One epoch; ``ys`` is float [N, 7] targets (rows sum to 1); train accuracy is against their top class."""
    model.train()
    order = torch.randperm(xs.shape[0], generator=torch.Generator().manual_seed(args.seed * 1000 + epoch))
    nb = xs.shape[0] // args.batch
    if args.max_batches:
        nb = min(nb, args.max_batches)
    total_loss, correct, seen = 0.0, 0, 0
    for b in range(nb):
        idx = order[b * args.batch:(b + 1) * args.batch]
        x = augment(to_unit(xs[idx.to(xs.device)]), args.crop, gen).contiguous(memory_format=torch.channels_last)
        y = ys[idx].to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=args.label_smoothing)
        y = y.argmax(1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        total_loss += float(loss.detach()) * y.shape[0]
        correct += int((logits.argmax(1) == y).sum())
        seen += y.shape[0]
    return total_loss / max(seen, 1), correct / max(seen, 1), seen


def training_targets(data, args) -> np.ndarray:
    """float32 [N_train, 7]: one-hot original labels, mixed with FER+ votes when ``--ferplus-weight`` > 0."""
    train = data.indices("Training")
    if args.ferplus_weight <= 0:
        return np.eye(7, dtype=np.float32)[data.labels[train]]
    targets, soft = ferplus_targets(data, read_ferplus_votes(args.ferplus), args.ferplus_weight)
    print(f"FER+ votes mixed (weight {args.ferplus_weight}) into {int(soft[train].sum())} of {len(train)} "
          "Training targets", flush=True)
    return targets[train]


def bf16_supported(device: torch.device, choice: str) -> bool:
    if choice != "auto":
        return choice == "on"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        cpu = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in cpu or "amx_bf16" in cpu


def main(argv=None) -> None:
    args = parse_args(argv)
    if len(args.widths) != len(args.blocks):
        raise SystemExit("--widths and --blocks need one value per stage each")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    bf16 = bf16_supported(device, args.bf16)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    if args.export_only:
        export(args.run_dir / "best.pt", args.data, args.export_dir, device, bf16)
        return
    data = read_fer2013(args.data)
    tr, pub = data.split("Training"), data.split("PublicTest")
    xs, ys = torch.from_numpy(tr.images).to(device), torch.from_numpy(training_targets(data, args))
    xp, yp = torch.from_numpy(pub.images), pub.labels
    torch.manual_seed(args.seed)
    arch = {"widths": args.widths, "blocks": args.blocks, "dropout": args.dropout}
    model = build_model(arch).to(device).to(memory_format=torch.channels_last)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": args.weight_decay},
                           {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, momentum=0.9, nesterov=True)
    steps = args.epochs * (min(xs.shape[0] // args.batch, args.max_batches or 10**9))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.15,
                                                div_factor=20, final_div_factor=200)
    gen = torch.Generator().manual_seed(args.seed)
    state = {"epochs": args.epochs, "epoch": 0, "history": [], "best_acc": -1.0, "wall_s": 0.0, "images_seen": 0}
    if args.init is not None and not (args.resume and (args.run_dir / "last.pt").is_file()):
        ck = torch.load(args.init, map_location=device, weights_only=True)
        model.load_state_dict(ck["model"])
        prev = ck["state"]
        state["previous"] = {"run": str(args.init), "epochs": prev["epoch"] + prev.get("previous", {}).get("epochs", 0),
                             "images_seen": prev["images_seen"] + prev.get("previous", {}).get("images_seen", 0),
                             "wall_s": prev["wall_s"] + prev.get("previous", {}).get("wall_s", 0.0)}
        print(f"initialised from {args.init} ({state['previous']['epochs']} epochs before)", flush=True)
    last = args.run_dir / "last.pt"
    if args.resume and last.is_file():
        ck = torch.load(last, map_location=device, weights_only=False)
        if ck.get("arch", DEFAULT_ARCH) != arch:
            raise SystemExit(f"the run was started with the architecture {ck.get('arch', DEFAULT_ARCH)}; resume with it")
        model.load_state_dict(ck["model"]); opt.load_state_dict(ck["opt"]); sched.load_state_dict(ck["sched"])
        gen.set_state(ck["gen"]); torch.set_rng_state(ck["torch_rng"])
        state = ck["state"]
        if state.get("epochs", args.epochs) != args.epochs:
            raise SystemExit(f"the run was started with --epochs {state['epochs']}; resume with the same value")
        print(f"resumed at epoch {state['epoch']} (best PublicTest {state['best_acc']:.4f})", flush=True)
    print(f"device {device} bf16 {bf16} threads {args.threads} params "
          f"{sum(p.numel() for p in model.parameters())} train {len(tr)} public {len(pub)}", flush=True)
    bad = 0
    for epoch in range(state["epoch"], args.epochs):
        t0 = time.time()
        loss, acc, seen = train_epoch(model, opt, sched, xs, ys, epoch, args, gen, device, bf16)
        probs = predict_probs(model, xp, args.crop, device, bf16)
        pub_acc = float((probs.argmax(1).numpy() == yp).mean())
        state["wall_s"] += time.time() - t0
        state["images_seen"] += seen
        state["epoch"] = epoch + 1
        state["history"].append({"epoch": epoch + 1, "train_loss": loss, "train_acc": acc, "public_acc": pub_acc,
                                 "lr": sched.get_last_lr()[0], "wall_s": state["wall_s"]})
        improved = pub_acc > state["best_acc"]
        if improved:
            state["best_acc"] = pub_acc
            atomic_torch_save({"model": model.state_dict(), "arch": arch, "crop": args.crop, "state": state,
                         "args": {k: str(v) for k, v in vars(args).items()}, "bf16": bf16,
                         "device": str(device)}, args.run_dir / "best.pt")
        bad = 0 if improved else bad + 1
        atomic_torch_save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                     "gen": gen.get_state(), "torch_rng": torch.get_rng_state(), "state": state, "arch": arch}, last)
        print(f"epoch {epoch + 1:3d}/{args.epochs}  loss {loss:.4f}  train {acc:.4f}  public {pub_acc:.4f}"
              f"{' *' if improved else ''}  {seen / (time.time() - t0):.0f} img/s  wall {state['wall_s'] / 60:.1f} min",
              flush=True)
        with open(args.run_dir / "history.json", "w") as fh:
            json.dump(state["history"], fh, indent=1)
        if args.patience and bad >= args.patience:
            print(f"early stop: no PublicTest gain for {bad} epochs", flush=True)
            break
    if not args.no_export:
        export(args.run_dir / "best.pt", args.data, args.export_dir, device, bf16)


if __name__ == "__main__":
    main()
