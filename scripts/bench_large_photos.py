"""Large photos: peak memory, seconds per stage and whether the face was found (issue 16).

Makes its own test photos: the astronaut (../shared/data/photos/astronaut.png, a 110 px face)
as it is (512x512), and scaled by 0.81 (an 89 px face) onto a smooth random 4000x3000 and
12000x9000 canvas (JPEG, quality 92). Each photo is animated once, one at a time, by the real
command line under ``/usr/bin/time -v``:

    facelatent animate PHOTO -e joy --duration 2 --seed 1 --json -o OUT.mp4

and the script prints, per photo: the video size, whether the face was found, the seconds of each
stage (from ``--json``), the wall time and the peak resident memory: ``Maximum resident set size``
as ``/usr/bin/time -v`` reports it (the largest single process: python, or its ffmpeg child), and
the whole process tree's resident memory (python + ffmpeg together, sampled every 0.1 s from
/proc). Before that, ``facelatent detect --json`` alone on each photo (seconds, peak, faces).

Run (one photo at a time; the 12000x9000 run needs about 1.5 GB):

    OMP_NUM_THREADS=1 python scripts/bench_large_photos.py --out /tmp/large_photos
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
ASTRONAUT = REPO.parent / "shared" / "data" / "photos" / "astronaut.png"
SIZES = ((512, 512), (4000, 3000), (12000, 9000))
FACE_SCALE = 0.81  # the astronaut's 110 px face -> 89 px, the face the issue reports missed


def make_photo(size: tuple[int, int], out: Path, seed: int = 0) -> Path:
    """The astronaut alone (512x512) or scaled by FACE_SCALE onto a smooth random canvas of ``size``."""
    astronaut = cv2.imread(str(ASTRONAUT))
    if size == astronaut.shape[1::-1]:
        path = out / "astronaut_512.png"
        cv2.imwrite(str(path), astronaut)
        return path
    width, height = size
    rng = np.random.default_rng(seed)
    coarse = rng.integers(40, 216, size=(height // 200 + 2, width // 200 + 2, 3), dtype=np.uint8)
    canvas = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    patch = cv2.resize(astronaut, None, fx=FACE_SCALE, fy=FACE_SCALE, interpolation=cv2.INTER_AREA)
    y0, x0 = int(height * 0.4), int(width * 0.55)
    canvas[y0:y0 + patch.shape[0], x0:x0 + patch.shape[1]] = patch
    path = out / f"astronaut_{width}x{height}.jpg"
    cv2.imwrite(str(path), canvas, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return path


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants now, in kB (0 where /proc does not say)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) if "VmRSS" in status else 0
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, AttributeError, ValueError):
            continue
    return total


def timed(cmd: list[str]) -> tuple[subprocess.CompletedProcess, float, float, float]:
    """Run under /usr/bin/time -v; returns (result, wall seconds, peak RSS in GB of the largest single
    process as /usr/bin/time -v reports it, peak RSS in GB of the whole process tree sampled every 0.1 s)."""
    start = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    proc = subprocess.Popen(["/usr/bin/time", "-v", *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    tree_peak = 0
    while proc.poll() is None:
        tree_peak = max(tree_peak, _tree_rss_kb(proc.pid))
        time.sleep(0.1)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    peak = int(match.group(1)) / 1024 ** 2 if match else float("nan")
    return result, wall, peak, tree_peak / 1024 ** 2


def last_json(text: str) -> dict:
    lines = [line for line in text.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def bench_animate(photo: Path, out: Path) -> dict:
    video = out / f"{photo.stem}.mp4"
    cmd = ["facelatent", "animate", str(photo), "-e", "joy", "--duration", "2", "--seed", "1", "--json",
           "-o", str(video)]
    result, wall, peak, tree = timed(cmd)
    summary = last_json(result.stdout)
    notes = [line for line in result.stderr.splitlines() if line.startswith(("note:", "error:"))]
    return {"command": " ".join(cmd[:2] + ["PHOTO"] + cmd[3:-1] + ["OUT.mp4"]), "rc": result.returncode,
            "wall_s": round(wall, 1), "peak_gb": round(peak, 2), "tree_gb": round(tree, 2),
            "found": bool(summary.get("boxes")),
            "animated": summary.get("animated"), "video": f"{summary.get('width')}x{summary.get('height')}",
            "seconds": summary.get("seconds", {}), "notes": notes}


def bench_detect(photo: Path) -> dict:
    result, wall, peak, tree = timed(["facelatent", "detect", str(photo), "--json"])
    summary = last_json(result.stdout)
    return {"rc": result.returncode, "wall_s": round(wall, 1), "peak_gb": round(peak, 2), "tree_gb": round(tree, 2),
            "faces": [[round(v) for v in f["box"]] for f in summary.get("faces", [])],
            "notes": [line for line in result.stderr.splitlines() if line.startswith(("note:", "error:"))]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/large_photos"))
    parser.add_argument("--sizes", default="512x512,4000x3000,12000x9000")
    parser.add_argument("--skip-detect", action="store_true", help="only the animate runs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    for size in sizes:
        photo = make_photo(size, args.out)
        if not args.skip_detect:
            d = bench_detect(photo)
            print(f"{size[0]}x{size[1]} detect: {d['wall_s']} s, peak {d['peak_gb']} GB, faces {d['faces']}"
                  + (f" | {' | '.join(d['notes'])}" if d["notes"] else ""), flush=True)
        a = bench_animate(photo, args.out)
        stages = ", ".join(f"{k} {v:.1f}" for k, v in a["seconds"].items())
        print(f"{size[0]}x{size[1]} animate: rc {a['rc']}, found {a['found']}, video {a['video']}, "
              f"wall {a['wall_s']} s, peak {a['peak_gb']} GB (time -v), {a['tree_gb']} GB (python + ffmpeg "
              f"together); stages: {stages}"
              + (f" | {' | '.join(a['notes'])}" if a["notes"] else ""), flush=True)
    print(f"command: OMP_NUM_THREADS=1 python scripts/bench_large_photos.py --out {args.out}")
    print(f"each run: {a['command']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
