"""Bake-off: should the warp's expression targets come from the data or from the generator?

    OMP_NUM_THREADS=1 python scripts/bakeoff_targets.py [--faces 24] [--latents 30]

* **data**: the expression model's own targets (means of strong FER+ examples, ``directions.expression_basis``);
* **generator**: what the embedded generator's emotion edits do to a face's landmarks, measured in the same
  basis: for ``--latents`` sampled latents (truncation 0.7, seed 0), render ``w`` and ``w + strength · d``
  (the default directions at their recommended strength), detect dlib's 68 on the 64 px renders upscaled
  x4, project both into the basis; the target is the mean change (neutral + mean change). ``--write``
  saves these beside the expression basis (what ``editor.warp_pipeline.TARGET_SOURCES`` draws on).

* **shipped**: what the warp ships (:func:`editor.warp_pipeline.shipped_targets`: each emotion from its source in
  ``TARGET_SOURCES``, FACS prototypes and the classifier-searched target among them), printed beside the two.

All run through the same warp (:func:`editor.warp_pipeline.plan_warp_faces`, same seed, same distinctiveness)
on the realism benchmark's faces (``scripts/bench_realism.py``'s list), judged on the apex frame by the two
judges the project never trains against (``scripts/judges.py``; success = the mean p(target) rises by
≥ 0.05 or stands at ≥ 0.7 and does not fall) and by dlib identity (descriptor distance < 0.5). Prints a
markdown table per emotion and source. No video is written: the apex frame is composited directly.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

EMOTIONS6 = ("joy", "fear", "anger", "sadness", "disgust", "surprise")


def generator_targets(model, num: int, seed: int = 0) -> dict:
    """``{emotion: e* [K]}``: the mean basis change the default generator's edits make (see the docstring)."""
    import torch  # noqa: PLC0415

    from directions.direction_file import load_directions  # noqa: PLC0415
    from directions.default_directions import default_path  # noqa: PLC0415
    from common import detect  # noqa: PLC0415
    from inversion.checkpoints import generator_identity, load_generator  # noqa: PLC0415

    G = load_generator(None, "cpu")
    directions = load_directions(default_path(), generator_identity(G))
    z = torch.randn(num, G.z_dim, generator=torch.Generator().manual_seed(seed))

    def coefficients(ws):
        with torch.no_grad():
            grey = ((G.synthesis(ws, noise_mode="const").mean(1).clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
        return model.project(np.stack([detect(g, 4.0) for g in grey]))

    with torch.no_grad():
        ws = G.mapping(z, None, truncation_psi=0.7)
    base = coefficients(ws)
    out = {"neutral": model.target("neutral")}
    for emotion in EMOTIONS6:
        entry = directions.get(emotion)
        out[emotion] = model.target("neutral") + (coefficients(ws + entry.strength * directions.offset(emotion)[None])
                                                  - base).mean(0)
    return out


def judge_apex(sources, model, targets, judges, identity, emotion: str) -> tuple[list[bool], list[bool]]:
    """Per face: (judges see the emotion, identity kept) on the apex frame of a 2 s clip."""
    from directions.emotions import EMOTIONS  # noqa: PLC0415
    from editor.emotion_spec import parse_emotion_spec  # noqa: PLC0415
    from editor.warp_compositor import WarpCompositor  # noqa: PLC0415
    from editor.warp_pipeline import plan_warp_faces  # noqa: PLC0415
    from judges import to_grey  # noqa: PLC0415
    from realism_metrics import descriptor, judged  # noqa: PLC0415

    seen, same = [], []
    t = EMOTIONS.index(emotion)
    for src in sources:
        photo, found = src["photo"], src["found"]
        marks = [found[i].landmarks68 for i in src["faces"]]
        faces = plan_warp_faces(photo, marks, model, parse_emotion_spec(emotion), 11, 2.0, 15, 0.7, targets=targets)
        last = WarpCompositor(photo, faces).frame(29)
        for i in src["faces"]:
            box = found[i].box
            first_p = np.mean([j.probs(to_grey(photo), box)[t] for j in judges])
            last_p = np.mean([j.probs(to_grey(last), box)[t] for j in judges])
            seen.append(judged(first_p, last_p))
            distance = np.linalg.norm(descriptor(identity, photo, box) - descriptor(identity, last, box))
            same.append(bool(distance < 0.5))
    return seen, same


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=int, default=24)
    parser.add_argument("--latents", type=int, default=30)
    parser.add_argument("--write", action="store_true", help="save the generator-driven targets beside the "
                        "expression basis (directions/models/expression_basis/generator_targets.json)")
    args = parser.parse_args(argv)
    from bench_realism import plan_sources  # noqa: PLC0415
    from directions.evaluation import DlibIdentity  # noqa: PLC0415
    from directions.expression_basis import load_default  # noqa: PLC0415
    from editor.warp_pipeline import distinctive_targets, shipped_targets  # noqa: PLC0415
    from inversion.faces.detection import find_faces  # noqa: PLC0415
    from judges import load_judges  # noqa: PLC0415

    clock = time.perf_counter()
    model = load_default()
    sources = plan_sources(args.faces, 11, 28.0)
    for src in sources:
        src["found"] = find_faces(src["photo"]).faces
    generator = generator_targets(model, args.latents)
    if args.write:
        from directions.expression_basis import DEFAULT_DIR, save_targets  # noqa: PLC0415
        from inversion.checkpoints import generator_identity, load_generator  # noqa: PLC0415
        path = save_targets(DEFAULT_DIR, "generator", generator, {
            "generator": generator_identity(load_generator(None, "cpu")), "latents": args.latents,
            "seed": 0, "truncation_psi": 0.7, "command": "python scripts/bakeoff_targets.py --write"})
        print(f"wrote {path}")
    choices = {"data": distinctive_targets(model, None, {}),
               "generator": distinctive_targets(model, generator, {e: "generator" for e in EMOTIONS6}),
               "shipped": shipped_targets()}
    judges, identity = load_judges(), DlibIdentity()
    print(f"command: OMP_NUM_THREADS=1 python scripts/bakeoff_targets.py --faces {args.faces} --latents {args.latents}")
    print("\n| emotion | targets | faces | judges | identity |\n|---|---|---|---|---|")
    totals = {name: ([], []) for name in choices}
    for emotion in EMOTIONS6:
        for name, targets in choices.items():
            seen, same = judge_apex(sources, model, targets, judges, identity, emotion)
            totals[name][0].extend(seen)
            totals[name][1].extend(same)
            print(f"| {emotion} | {name} | {len(seen)} | {np.mean(seen):.0%} | {np.mean(same):.0%} |", flush=True)
    for name, (seen, same) in totals.items():
        print(f"| all | {name} | {len(seen)} | {np.mean(seen):.0%} | {np.mean(same):.0%} |")
    print(f"\n{time.perf_counter() - clock:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
