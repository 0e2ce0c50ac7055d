"""Export a classifier checkpoint from a training run into directions/models/classifier/.

Writes (each atomically) ``weights.pt`` (float16 state dict, loaded back as float32),
``config.json``, ``learning_curve.png`` and ``MODEL_CARD.md`` with accuracy, per-class accuracy and
confusion matrices on PublicTest and PrivateTest (original FER2013 labels), measured through the
shipped :class:`directions.classifier.EmotionClassifier`, so the card describes what users get.

The fast view set (``tta_offsets``: centre crop + mirror) is always written, scored into ``metrics``;
with ``--search-views`` the accurate set (``accurate_offsets``: the best of :data:`TTA_CANDIDATES` on
PublicTest) too, scored into ``metrics_accurate``; ``ms_per_face`` holds each set's measured cost.

    python scripts/export_classifier.py /work/runs/classifier_stage2/best.pt --force --search-views
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from classifier_export import export
from common import FER2013, REPO

if __name__ == "__main__":
    p = argparse.ArgumentParser(description="Export a classifier checkpoint into the repo.")
    p.add_argument("checkpoint", type=Path, nargs="?", default=Path("/work/runs/classifier/best.pt"))
    p.add_argument("--data", type=Path, default=FER2013)
    p.add_argument("--out", type=Path, default=REPO / "directions" / "models" / "classifier")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--force", action="store_true", help="replace the model there even if it scores higher")
    p.add_argument("--search-views", action="store_true",
                   help="also choose shifted test-time crops on PublicTest (up to 13x slower inference)")
    p.add_argument("--members", type=Path, nargs="*", default=[],
                   help="other runs' best.pt averaged with CHECKPOINT in the accurate view set (an ensemble)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    export(a.checkpoint, a.data, a.out, force=a.force, search_views=a.search_views, members=a.members)
