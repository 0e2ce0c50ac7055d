"""The emotion classifier's export, run by ``export_classifier.py`` and by ``train_classifier.py`` after
training: evaluation, test-time view sets, learning curve, the exported weights and their model card.

Scripts run as ``python scripts/NAME.py`` and ``import classifier_export`` (``scripts/`` is first on the
path); shared data paths come from :mod:`common`.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from common import FERPLUS
from directions.classifier import DEFAULT_ARCH, EmotionClassifier, build_model, describe_view_sets
from directions.emotions import EMOTIONS
from directions.fer2013 import (EXTRA_ROW, MISSING_ROW, NON_FACE_MATCH, SPLITS, align_ferplus, alignment_agreement,
                                ferplus_targets, read_fer2013, read_ferplus_votes)
from inversion.common.output_files import atomic_output, atomic_torch_save, atomic_write_bytes


def evaluate(clf: EmotionClassifier, images: np.ndarray, labels: np.ndarray, batch: int = 64) -> dict:
    """Accuracy, per-class accuracy and confusion (rows true, columns predicted) of ``clf``."""
    preds = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = torch.from_numpy(images[i:i + batch]).float().unsqueeze(1) / 127.5 - 1.0
            preds.append(clf.predict(x).argmax(1).cpu().numpy())
    pred = np.concatenate(preds)
    conf = np.zeros((len(EMOTIONS), len(EMOTIONS)), dtype=np.int64)
    np.add.at(conf, (labels, pred), 1)
    per_class = {e: float(conf[k, k] / max(conf[k].sum(), 1)) for k, e in enumerate(EMOTIONS)}
    return {"n": int(len(labels)), "accuracy": float((pred == labels).mean()), "per_class": per_class,
            "confusion": conf.tolist()}


def draw_curve(history: list[dict], path: Path) -> None:
    """Learning curve PNG: train accuracy (blue), PublicTest accuracy (red), train loss / 2 (grey)."""
    from PIL import Image, ImageDraw  # noqa: PLC0415

    w, h, m = 640, 400, 50
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    n = max(len(history), 2)
    px = lambda e: m + (e - 1) / (n - 1) * (w - 2 * m)  # noqa: E731
    py = lambda v: h - m - min(max(v, 0.0), 1.0) * (h - 2 * m)  # noqa: E731
    for v in np.linspace(0, 1, 11):
        d.line([(m, py(v)), (w - m, py(v))], fill=(225, 225, 225))
        d.text((8, py(v) - 6), f"{v:.1f}", fill="black")
    d.rectangle([m, m, w - m, h - m], outline="black")
    for key, colour, scale in (("train_acc", (40, 90, 220), 1.0), ("public_acc", (220, 40, 40), 1.0),
                               ("train_loss", (120, 120, 120), 0.5)):
        pts = [(px(r["epoch"]), py(r[key] * scale)) for r in history]
        if len(pts) > 1:
            d.line(pts, fill=colour, width=2)
    d.text((m, 15), "blue: train acc   red: PublicTest acc (flip TTA)   grey: train loss / 2", fill="black")
    d.text((w // 2 - 20, h - m + 15), f"epoch (1..{len(history)})", fill="black")
    with atomic_output(path, ".png") as tmp:
        img.save(tmp)


#: Test-time view sets tried on PublicTest: shifts (dy, dx) of the eval crop from the centre, each with
#: its mirror. The training crops were shifted by up to ±4 px.
TTA_CANDIDATES: dict[str, list[list[int]]] = {
    "centre": [[0, 0]],
    "centre+4 corners ±2": [[0, 0], [-2, -2], [-2, 2], [2, -2], [2, 2]],
    "3x3 grid ±2": [[dy, dx] for dy in (-2, 0, 2) for dx in (-2, 0, 2)],
    "centre+4 corners ±4": [[0, 0], [-4, -4], [-4, 4], [4, -4], [4, 4]],
    "3x3 grid ±2 + corners ±4": [[dy, dx] for dy in (-2, 0, 2) for dx in (-2, 0, 2)]
                                + [[-4, -4], [-4, 4], [4, -4], [4, 4]],
}
ALL_OFFSETS: list[list[int]] = TTA_CANDIDATES["3x3 grid ±2 + corners ±4"]


def view_logits(clf: EmotionClassifier, images: np.ndarray, offsets=ALL_OFFSETS, batch: int = 64) -> torch.Tensor:
    """Logits [2 × len(offsets), N, 7] of every test-time view (crop shift, then its mirror) of uint8 faces."""
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = torch.from_numpy(images[i:i + batch]).float().unsqueeze(1) / 127.5 - 1.0
            out.append(clf.view_logits(x, offsets))
    return torch.cat(out, dim=1)


def views_of(offsets_subset, offsets=ALL_OFFSETS) -> list[int]:
    """Indices into :func:`view_logits`' first axis of a subset of the offsets (each view and its mirror)."""
    return [2 * offsets.index(o) + k for o in offsets_subset for k in (0, 1)]


def _pick_inference(model, base: dict, data, device, search_views: bool,
                    members: list = ()) -> tuple[int, list[list[int]] | None]:
    """The eval crop (training crop or the full 48, whichever scores higher with the centre crop + mirror
    of ``model`` on PublicTest) and, with ``search_views``, the accurate view set: the :data:`TTA_CANDIDATES`
    entry that scores highest on PublicTest at that crop with the logits of ``model`` and ``members`` (the
    accurate set's extra networks) averaged (None without the search)."""
    pub = data.split("PublicTest")
    scores = {}
    for crop in sorted({int(base["crop"]), 48}):
        config = {"arch": base["arch"], "input_size": 48, "eval_crop": crop}
        candidates = TTA_CANDIDATES if crop < 48 and search_views else {"centre": [[0, 0]]}
        tried = ALL_OFFSETS if len(candidates) > 1 else [[0, 0]]
        nets = [model, *members] if len(candidates) > 1 else [model]
        per_net = [view_logits(EmotionClassifier(net, config, device), pub.images, tried) for net in nets]
        for name, subset in candidates.items():
            if name == "centre":  # the crop is chosen on the shipped network alone
                pred = per_net[0][views_of(subset, tried)].mean(0).argmax(1).numpy()
                scores[(crop, name)] = float((pred == pub.labels).mean())
            pred = torch.stack([lg[views_of(subset, tried)].mean(0) for lg in per_net]).mean(0).argmax(1).numpy()
            scores[(crop, name, "all")] = float((pred == pub.labels).mean())
    for key, acc in scores.items():
        who = f"{len(members) + 1} networks" if len(key) == 3 else "shipped network"
        print(f"PublicTest accuracy, eval crop {key[0]}, {key[1]}, {who}: {acc:.4f}", flush=True)
    order = list(scores)  # ties: the smaller crop and the fewer views (earlier in TTA_CANDIDATES)
    best = lambda keys: max(keys, key=lambda k: (scores[k], -order.index(k)))  # noqa: E731
    crop = best([k for k in order if len(k) == 2])[0]
    if not search_views:
        return crop, None
    return crop, TTA_CANDIDATES[best([k for k in order if len(k) == 3 and k[0] == crop])[1]]


def _load_rounded(path: Path) -> tuple[torch.nn.Module, dict]:
    """A training checkpoint's network with its weights rounded to float16 (what ships), as float32, and
    the checkpoint itself."""
    ck = torch.load(path, map_location="cpu", weights_only=True)
    model = build_model(ck["arch"])
    model.load_state_dict({k: (v.half().float() if v.is_floating_point() else v) for k, v in ck["model"].items()})
    return model.float().to(memory_format=torch.contiguous_format), ck


def _member_entry(index: int, path: Path, ck: dict, model, crop: int, data, device) -> dict:
    """``accurate_members`` entry of an ensemble member: its file, architecture, run, and its own accuracy
    (centre ``crop`` + mirror: the members see the shipped network's eval crop) on both test splits."""
    config = {"arch": ck["arch"], "input_size": 48, "eval_crop": crop}
    metrics, _ = _measure(EmotionClassifier(model, config, device), data)
    state = ck["state"]
    prev = state.get("previous", {"images_seen": 0, "wall_s": 0.0})
    return {"weights": f"member_{index}.pt", "arch": ck["arch"], "run": str(path),
            "command": _command(ck["args"]), "epochs": state["epoch"],
            "images_seen": state["images_seen"] + prev["images_seen"],
            "wall_minutes": round((state["wall_s"] + prev["wall_s"]) / 60, 1),
            "alone": {s: round(m["accuracy"], 4) for s, m in metrics.items()}}


def _measure(clf: EmotionClassifier, data) -> tuple[dict, float]:
    """Metrics of ``clf`` on PublicTest and PrivateTest, and its seconds per face (batches of 64)."""
    t0 = time.time()
    metrics = {s: evaluate(clf, data.split(s).images, data.split(s).labels) for s in ("PublicTest", "PrivateTest")}
    return metrics, (time.time() - t0) / sum(m["n"] for m in metrics.values())


def _shipped_public_accuracy(out_dir: Path) -> float:
    try:
        return float(json.loads((out_dir / "config.json").read_text())["metrics"]["PublicTest"]["accuracy"])
    except (OSError, ValueError, KeyError, TypeError):
        return -1.0


def export(best: Path, data_path: Path, out_dir: Path, device=torch.device("cpu"), bf16: bool = False,
           force: bool = False, search_views: bool = False, members: list[Path] = ()) -> dict:
    """Evaluate ``best`` (a best.pt from train_classifier.py) and write the model folder.

    Unless ``force``, the folder is left alone when the model already there scores at least as well on
    PublicTest (the selection split), so a later, weaker run never replaces a better shipped model.
    ``search_views`` also tries the test-time view sets of :data:`TTA_CANDIDATES` (up to 13× the
    inference cost) and keeps the best on PublicTest. ``members`` (other runs' best.pt; needs
    ``search_views``) join ``best`` in the accurate set as an ensemble (``member_K.pt``); the fast set is
    ``best`` alone.
    """
    if members and not search_views:
        raise SystemExit("ensemble members belong to the accurate view set: add --search-views")
    model, ck = _load_rounded(best)  # measure what ships: float16 weights, loaded back as float32
    extra = [_load_rounded(path) for path in members]
    member_nets = [net for net, _ in extra]
    data = read_fer2013(data_path)
    crop, accurate = _pick_inference(model, ck, data, device, search_views, member_nets)
    config = {"arch": ck["arch"], "input_size": 48, "eval_crop": crop, "tta_offsets": [[0, 0]],
              **({"accurate_offsets": accurate} if accurate is not None else {}),
              "tta": "each crop shift of the view set (tta_offsets: fast, the default; accurate_offsets: "
                     "accurate) and its horizontal mirror, logits averaged (accurate: also over the "
                     "accurate_members networks)",
              "input": "float32 [N,1,48,48] grey in [-1,1] (pixel/127.5-1)", "emotions": list(EMOTIONS)}
    if extra:
        config["accurate_members"] = [_member_entry(i + 1, path, mck, net, crop, data, device)
                                      for i, (path, (net, mck)) in enumerate(zip(members, extra))]
    results = {name: _measure(EmotionClassifier(model, config, device, name,
                                                member_nets if name == "accurate" else ()), data)
               for name in (("fast", "accurate") if accurate is not None else ("fast",))}
    metrics = results["fast"][0]
    state = ck["state"]
    history = state["history"]
    logged = best.parent / "history.json"  # the whole run so far, also the epochs after the best one
    if logged.is_file():
        history = max(history, json.loads(logged.read_text()), key=len)
    prev = state.get("previous", {"epochs": 0, "images_seen": 0, "wall_s": 0.0})
    config["training"] = {"epochs_run": len(history), "shipped_epoch": state["epoch"],
                          "previous_stage": prev if prev["epochs"] else None,
                          "total_images_seen": state["images_seen"] + prev["images_seen"],
                          "total_wall_minutes": round((state["wall_s"] + prev["wall_s"]) / 60, 1),
                          "epochs_planned": state.get("epochs"),
                          "images_seen": state["images_seen"], "wall_minutes": round(state["wall_s"] / 60, 1),
                          "device": f"{ck.get('device', 'cpu')} ({platform.processor() or platform.machine()}), "
                                    f"{ck['args'].get('threads')} thread(s), bf16 autocast {ck.get('bf16')}",
                          "args": ck["args"]}
    for name, (m_set, _) in results.items():
        config["metrics" if name == "fast" else f"metrics_{name}"] = {
            s: {"n": m["n"], "accuracy": round(m["accuracy"], 4)} for s, m in m_set.items()}
    config["ms_per_face"] = {name: round(sec * 1000, 2) for name, (_, sec) in results.items()}
    config["measured_with"] = f"{torch.get_num_threads()} thread(s), load average {os.getloadavg()[0]:.1f} after"
    shipped = _shipped_public_accuracy(out_dir)
    if not force and shipped >= round(metrics["PublicTest"]["accuracy"], 4):
        print(f"kept the model in {out_dir}: its PublicTest accuracy {shipped:.4f} >= "
              f"{metrics['PublicTest']['accuracy']:.4f} of {best} (use --force to replace it)", flush=True)
        return metrics
    card = model_card(config, results, data)  # before any file is written: a failure leaves the folder alone
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"weights.pt": model, **{m["weights"]: net for m, net in zip(config.get("accurate_members", []), member_nets)}}
    for name, net in files.items():
        atomic_torch_save({k: (v.half() if v.is_floating_point() else v) for k, v in net.state_dict().items()},
                          out_dir / name)
    for stale in out_dir.glob("member_*.pt"):
        if stale.name not in files:
            stale.unlink()
    atomic_write_bytes(out_dir / "config.json", (json.dumps(config, indent=2) + "\n").encode())
    draw_curve(history, out_dir / "learning_curve.png")
    atomic_write_bytes(out_dir / "MODEL_CARD.md", card.encode())
    for name, (m_set, sec) in results.items():
        print(name, json.dumps({s: round(m["accuracy"], 4) for s, m in m_set.items()}),
              f"{sec * 1000:.2f} ms/face (eval batches of 64)", flush=True)
    return metrics


def _table(conf: list[list[int]]) -> str:
    head = "| true \\ predicted | " + " | ".join(EMOTIONS) + " |\n|---|" + "---:|" * len(EMOTIONS) + "\n"
    return head + "".join(f"| {e} | " + " | ".join(str(v) for v in row) + " |\n" for e, row in zip(EMOTIONS, conf))


def _command(a: dict) -> str:
    """The training command line, from a checkpoint's recorded arguments."""
    cmd = (f"python scripts/train_classifier.py --run-dir {a.get('run_dir')} --epochs {a.get('epochs')} "
           f"--threads {a.get('threads')} --seed {a.get('seed')}")
    for key in ("widths", "blocks"):
        if a.get(key) not in (None, str(list(DEFAULT_ARCH[key]))):
            cmd += f" --{key} {','.join(v.strip() for v in a[key].strip('[]').split(','))}"
    if a.get("init") not in (None, "None"):
        cmd += f" --lr {a.get('lr')} --init {a.get('init')}"
    if float(a.get("ferplus_weight", 0) or 0) > 0:
        cmd += f" --ferplus-weight {a['ferplus_weight']} --label-smoothing {a.get('label_smoothing')}"
    return cmd


def _ferplus_figures(data, votes_path: Path) -> dict:
    """What the card says about the FER+ alignment, measured now on the files used for training."""
    votes = read_ferplus_votes(votes_path)
    placed = align_ferplus(data, votes)
    head = int((placed >= 0).sum())
    blocks = [alignment_agreement(data.labels, votes, np.where(np.arange(len(data)) // 500 == b, placed, -1))
              for b in range(head // 500)]
    nf = votes.non_face()
    free = np.setdiff1d(np.arange(len(votes)), placed)
    _, soft = ferplus_targets(data, votes, 0.5, placed)
    blank = data.images.reshape(len(data), -1).std(1) < 5
    return {"appended_per_split": "/".join(str(int(((placed < 0) & (data.usage == s)).sum())) for s in SPLITS),
            "blank": int(blank.sum()), "blank_appended": int(blank[placed < 0].sum()),
            "rows": len(data), "votes": len(votes), "placed": head, "nf": int(nf.sum()),
            "nf_per_split": "/".join(str(int((nf & (votes.usage == s)).sum())) for s in SPLITS),
            "nf_placed": int(nf[placed[placed >= 0]].sum()), "free_faces": free[~nf[free]].tolist(),
            "agree": alignment_agreement(data.labels, votes, placed),
            "shifted": max(alignment_agreement(data.labels, votes, placed, s) for s in (-1, 1)),
            "worst_block": min(blocks), "soft": int(soft[data.usage == "Training"].sum()),
            "train": int((data.usage == "Training").sum())}


def _card_data(args: dict, data) -> list[str]:
    """The card's data section: splits, labels, and how FER+ votes were aligned and used."""
    weight = float(args.get("ferplus_weight", 0) or 0)
    votes_path = Path(args.get("ferplus") or FERPLUS)
    lines = ["## Data", "",
             "FER2013 (`../shared/data/fer2013/fer2013.csv.gz`): trained on Training (28,708 faces), model "
             "selection (early stopping) on PublicTest (3,589), final figure on PrivateTest (3,589); both test "
             "splits are scored with the ORIGINAL FER2013 labels mapped to the project's vocabulary.", ""]
    if weight <= 0:
        lines += ["FER+ votes were not used in this model's training (a further cycle trained with them scored "
                  "lower on PublicTest: see docs/BENCHMARKS.md, Emotion classifier).", ""]
    if not votes_path.is_file():
        return lines
    f = _ferplus_figures(data, votes_path)
    if weight > 0:
        lines += [
            f"Training targets (last cycle): `(1 - {weight}) × one-hot(original label) + {weight} × FER+ votes`, "
            f"the votes of `{votes_path}` over the seven emotions (contempt, unknown and NF dropped, the rest "
            "renormalised); rows without such votes keep the one-hot. With a weight ≤ 0.5 the original label stays "
            f"each target's top class. {f['soft']:,} of {f['train']:,} Training rows got votes.", ""]
    return lines + [
        f"Alignment (`directions.fer2013.align_ferplus`): the vote file has the original {f['votes']:,} rows; the "
        f"shared CSV ({f['rows']:,}) has a block at its end where the splits no longer run in order "
        f"({f['appended_per_split']} Training/PublicTest/PrivateTest rows), as many per split as the rows FER+ "
        f"calls \"not a face\" (NF majority: {f['nf_per_split']}); {f['blank_appended']} of the CSV's {f['blank']} "
        "blank images (pixel std < 5) are in that block. An order-preserving DP aligns the CSV's "
        f"{f['placed']:,} leading rows to the vote rows (equal splits; a match scores the log-ratio of the vote "
        f"share of the row's original label to chance, {NON_FACE_MATCH:g} on an NF row; a skipped vote row "
        f"{MISSING_ROW:g}, 0 for an NF row; a skipped CSV row {EXTRA_ROW:g}). All are placed, {f['nf_placed']} "
        f"of them on NF rows left in place; the vote rows "
        f"{f['free_faces']} are faces with no CSV row in place (some appended rows are faces, one face is missing). "
        f"Check: the original label equals the FER+ majority for {f['agree'] * 100:.1f} % of placed rows, against "
        f"at most {f['shifted'] * 100:.1f} % with the alignment shifted by ±1 row, and at least "
        f"{f['worst_block'] * 100:.1f} % in every block of 500 rows. The appended rows get no votes.", ""]


def _card_training(config: dict) -> list[str]:
    """The card's training section: command, epochs, cycles, recipe, inference."""
    tr = config["training"]
    a, prev = tr["args"], tr.get("previous_stage")
    views = "fast (`tta_offsets`, the library's default): the centre crop and its mirror image"
    accurate = config.get("accurate_offsets")
    if accurate is not None:
        networks = describe_view_sets(config)["accurate"]["networks"]
        crops = ("the centre crop" if accurate == [[0, 0]] else
                 f"{len(accurate)} crops shifted from the centre by {accurate} px")
        views += (f"; accurate (`accurate_offsets`, `facelatent classify`'s default): {crops} (chosen on "
                  "PublicTest only), each with its mirror"
                  + (f", seen by each of {networks} networks (the ensemble below)" if networks > 1 else ""))
    return [
        "## Training", "",
        f"- Command: `{_command(a)}`.",
        f"- Epochs run: {tr['epochs_run']} of {tr['epochs_planned']} planned; shipped weights are from epoch "
        f"{tr['shipped_epoch']} (best PublicTest); up to it: {tr['images_seen']:,} images seen, {tr['wall_minutes']} "
        f"min; device: {tr['device']}.",
        *([f"- A warm-restarted cycle (`--init {prev['run']}`, lower peak learning rate) after {prev['epochs']} "
           f"epochs of earlier cycles; in all: {tr['total_images_seen']:,} images seen, "
           f"{tr['total_wall_minutes']} min of training."]
          if prev else []),
        f"- Recipe: batch {a.get('batch')}, SGD Nesterov momentum 0.9, one-cycle cosine LR (max {a.get('lr')}), "
        f"weight decay {a.get('weight_decay')} (not on BN/bias), label smoothing {a.get('label_smoothing')}; "
        f"augmentation: random affine {a.get('crop')}×{a.get('crop')} crops (±10° rotation, ±10 % scale, ±4 px "
        "shift), horizontal flip, brightness/contrast ±20 %, random erasing (p 0.5).",
        f"- Inference: {config['eval_crop']}×{config['eval_crop']} crops (the better of the training crop and the "
        f"full face on PublicTest), two view sets: {views}; logits averaged.",
        "- Learning curve (this cycle): `learning_curve.png`.", ""]


def _card_ensemble(config: dict) -> list[str]:
    """The card's ensemble section: the accurate set's extra networks and each one's own accuracy."""
    members = config.get("accurate_members", [])
    if not members:
        return []
    alone = config.get("metrics", {})
    rows = [f"| `weights.pt` (the fast set) | {config['training']['total_images_seen']:,} | "
            f"{config['training']['total_wall_minutes']} | "
            + " | ".join(f"{alone.get(s, {}).get('accuracy', float('nan')) * 100:.2f} %" for s in ("PublicTest", "PrivateTest"))
            + " |"]
    rows += [f"| `{m['weights']}`: `{m['command']}` | {m['images_seen']:,} | {m['wall_minutes']} | "
             + " | ".join(f"{m['alone'][s] * 100:.2f} %" for s in ("PublicTest", "PrivateTest")) + " |" for m in members]
    return [
        "## Ensemble (accurate view set)", "",
        f"The accurate set averages the logits of {len(members) + 1} networks, each seeing the same test-time "
        "views: `weights.pt` and the `accurate_members` of `config.json`, each trained by "
        "`scripts/train_classifier.py` with the command in its row (other seeds make other errors, which is "
        "what an ensemble averages away). The members were chosen with the view set, on PublicTest only "
        "(`scripts/bench_classifier.py --compare`, see docs/BENCHMARKS.md). The fast set is `weights.pt` "
        "alone, so what library code (latent labelling, direction fitting and evaluation) computes does not "
        "change with the ensemble. Each network alone, centre crop + mirror:", "",
        "| network | images seen (all its cycles) | training min | PublicTest | PrivateTest |",
        "|---|---:|---:|---:|---:|",
        *rows, ""]


def model_card(config: dict, results: dict[str, tuple[dict, float]], data) -> str:
    """MODEL_CARD.md text: architecture and why, data, training, metrics (``results``: view set name →
    (metrics per split, seconds per face))."""
    arch = config["arch"]
    params = sum(p.numel() for p in build_model(arch).parameters())
    lines = [
        "# Emotion classifier (FER2013)", "",
        "A small residual CNN that labels a 48×48 grey face crop with one of the project's emotions "
        f"({', '.join(EMOTIONS)}; output order). Loaded by `directions.classifier.EmotionClassifier.load()`.", "",
        "## Architecture and why", "",
        f"- `EmotionNet(widths={arch['widths']}, blocks={arch['blocks']}, dropout={arch['dropout']})`: a 3×3 "
        f"conv stem at full resolution, residual blocks (two 3×3 conv + BatchNorm, ReLU), stride-2 downsampling "
        f"at the start of each stage, global average pooling, dropout, linear → 7 logits; {params / 1e6:.2f} M "
        "parameters, stored as float16 (a few MB).",
        "- Why: the budget was one shared CPU core for a few hours in all (2 cores, shared with other work, no "
        "GPU). Training throughput was measured for several widths/depths at 1 thread: a plain "
        "ResNet-style net of ~1.5 M parameters trained on 40×40 crops with bf16 autocast ran at ~400 images/s "
        "on an idle core (about 2× float32; 130-220 images/s while other jobs shared the machine), enough for "
        "tens of epochs; wider nets (2 M+, 64-channel stems) halved the rate. Residual blocks with BatchNorm "
        "train fast at a high learning rate; global average pooling keeps the net fully convolutional (it "
        "accepts the 40×40 training crops and 48×48 faces alike) and small; dropout and strong augmentation "
        "fight FER2013's overfitting.", "",
        *_card_data(config["training"]["args"], data), *_card_training(config), *_card_ensemble(config),
    ]
    sets = describe_view_sets(config)
    for name, (metrics, sec_per_face) in results.items():
        views, networks = sets[name]["views"], sets[name]["networks"]
        lines += [f"## Results, {name} view set ({f'{networks} networks × ' if networks > 1 else ''}{views} views; "
                  "original FER2013 labels)", "",
                  f"Speed: {sec_per_face * 1000:.2f} ms per face on the export machine's CPU (batches of 64, "
                  f"{config.get('measured_with', 'threads and load not recorded')}).", ""]
        for split, m in metrics.items():
            lines += [f"### {split} ({name}): accuracy {m['accuracy'] * 100:.2f} % on {m['n']} faces", "",
                      "Per-class accuracy: " + ", ".join(f"{e} {v * 100:.1f} %" for e, v in m["per_class"].items()),
                      "", _table(m["confusion"])]
    lines += ["## Limits", "",
              "FER2013 is low-resolution, noisy (human accuracy about 65 %) and imbalanced (disgust ≈ 1.5 % of faces); "
              "disgust and fear are the weakest classes. Faces should be tightly cropped like FER2013's.", ""]
    return "\n".join(lines)
