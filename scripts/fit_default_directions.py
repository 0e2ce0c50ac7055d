"""Fit the default emotion directions of the embedded default generator (SplitGAN route).

The labelled FER2013 faces (aligned as in ``scripts/prepare_face_data.py``, tight, 64 px) are
encoded with the default encoder (:func:`inversion.encoder.encoder_for`) into W (the mean over
layers of its W+); for each of the six emotions the direction is the difference of the class
centroids, emotion minus neutral (:func:`directions.fitting.fit_emotion_directions`, ``mean``),
on FER2013's *original* labels of the Training rows. With ``--svm`` the same is fitted with ``svm``
only to report a held-out (validation) accuracy of a linear boundary in this latent space (slow). The file is written
with the default generator's identity to ``directions/models/default_directions/directions.pt``.

    python scripts/fit_default_directions.py [--json figures.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from directions.direction_file import direction_set_from_fits, save_directions
from directions.emotions import EMOTIONS
from directions.fitting import fit_emotion_directions
from inversion.checkpoints import generator_identity, load_generator
from inversion.encoder import encoder_for

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "directions" / "models" / "default_directions" / "directions.pt"


@torch.no_grad()
def encode_all(E, images: np.ndarray, batch: int = 256) -> torch.Tensor:
    """uint8 [N, S, S] → W+ [N, num_ws, w_dim] (float32)."""
    out = []
    for start in range(0, len(images), batch):
        x = torch.from_numpy(images[start:start + batch]).float().unsqueeze(1) / 127.5 - 1.0
        out.append(E(x))
    return torch.cat(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("/work/runs/facedata/faces64.npz"))
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--json", type=Path, default=None, help="also write the fitting figures here")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--svm", action="store_true", help="also fit linear SVMs to report held-out accuracy (slow)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    G = load_generator(None)
    E = encoder_for(G)
    if E is None:
        raise SystemExit("the default generator has no matching encoder (re-export both)")
    data = np.load(args.data)
    keep = (data["source"] == 1) & (data["split"] == 0) & (data["labels"] >= 0)
    ws = encode_all(E, data["images"][keep])
    labels = torch.from_numpy(data["labels"][keep])
    ones = torch.ones(len(labels))
    neutral = EMOTIONS.index("neutral")
    emotions = [EMOTIONS.index(e) for e in EMOTIONS if e != "neutral"]
    fits = fit_emotion_directions(ws.mean(dim=1), labels, ones, emotions, neutral, method="mean", space="w",
                                  num_ws=G.num_ws, seed=args.seed)
    figures = {EMOTIONS[i]: {"strength": fits[i].strength, "counts": fits[i].counts} for i in emotions}
    if args.svm:  # slow (minutes per emotion on 20k faces): only for the held-out accuracy figure
        svm = fit_emotion_directions(ws.mean(dim=1), labels, ones, emotions, neutral, method="svm", space="w",
                                     num_ws=G.num_ws, seed=args.seed, validation_ratio=0.3)
        for i in emotions:
            figures[EMOTIONS[i]].update(svm_validation_accuracy=svm[i].accuracy,
                                        cosine_mean_vs_svm=float(torch.dot(fits[i].vector, svm[i].vector)))
    data_text = (f"FER2013 Training rows ({int(keep.sum())} faces, original labels), tight-aligned 64 px, "
                 "encoded with the default encoder, W = mean over layers")
    settings = {"method": "mean", "space": "w", "labels": "fer2013 original", "top_ratio": 1.0, "seed": args.seed}
    directions = direction_set_from_fits(fits, generator=generator_identity(G), space="w", num_ws=G.num_ws,
                                         w_dim=G.w_dim, data=data_text, settings=settings)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_directions(directions, args.out)
    print(json.dumps({"out": str(args.out), "faces": int(keep.sum()), "directions": figures}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
