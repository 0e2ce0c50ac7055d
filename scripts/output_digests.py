"""SHA-256 digests of what the CLI writes for a fixed set of seeded jobs on the embedded defaults.

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD python scripts/output_digests.py [--shared ../shared] [--jobs NAME,...]

Prints one line per output, ``<sha256>  <job name>``, in a fixed order. Two runs of the same code
on the same machine print the same lines; a change that keeps behaviour bit for bit keeps them too
(``docs/OUTPUT_DIGESTS.md`` records them for a commit). The jobs run the ``facelatent`` console
script on the CPU with one torch thread, in a temporary folder that holds copies of the inputs, so
no path of this checkout appears in what they print. ``PYTHONPATH`` is set to this checkout, so
its packages are the ones that run.

For each video two digests: the file's bytes (``…:file``) and its frames decoded to raw RGB24 by
imageio-ffmpeg (``…:frames``), which stay put if only the container's metadata changes. For the
latents file one digest of its content (``…:content``): the raw bytes of every tensor and the
repr of every other value, walked in key order, leaving out ``faces[i].metrics.seconds``; the
``torch.save`` bytes are not digested, since that field records the projection's wall time and so
differs from run to run. JSON printed by ``detect`` and ``classify`` is digested as
printed. The group photo job needs ``SHARED/data/photos/2008_001322.jpg``; without it the job is
skipped with a note on stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ASTRONAUT = REPO / "docs" / "examples" / "astronaut.jpg"
GROUP_PHOTO = "data/photos/2008_001322.jpg"
CPU = ("--device", "cpu")
# Keys of a latents file whose values are wall-clock times, so differ between runs of the same job.
TIMING_KEYS = {"seconds"}

# name -> (input photo: "astronaut" or "group", CLI arguments after the photo's name, what to digest)
JOBS = {
    "animate-warp": ("astronaut", ["animate", "{photo}", "--emotion", "joy", "--seed", "7", "--duration", "2",
                                   "--motion", "warp", "-o", "out.mp4", *CPU], "video"),
    "animate-flow": ("astronaut", ["animate", "{photo}", "--emotion", "joy", "--seed", "7", "--duration", "2",
                                   "--motion", "flow", "-o", "out.mp4", *CPU], "video"),
    "animate-group-warp": ("group", ["animate", "{photo}", "--emotion", "fear", "--seed", "7", "--duration", "2",
                                     "--motion", "warp", "-o", "out.mp4", *CPU], "video"),
    "invert": ("astronaut", ["invert", "{photo}", "--seed", "7", "--steps", "20", "-o", "out.latents.pt", *CPU],
               "latents"),
    "detect": ("astronaut", ["detect", "{photo}", "--json"], "stdout"),
    "generate": (None, ["generate", "--seeds", "7", "-o", "out.png", *CPU], "png"),
    "classify": ("astronaut", ["classify", "{photo}", "--json", *CPU], "stdout"),
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def video_frames_digest(path: Path) -> str:
    """Digest of every decoded frame as raw RGB24, in order, and the frame size."""
    import imageio_ffmpeg

    digest = hashlib.sha256()
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    meta = reader.__next__()
    digest.update(repr(tuple(meta["size"])).encode())
    for frame in reader:
        digest.update(frame)
    return digest.hexdigest()


def _content_bytes(value, digest) -> None:
    import torch

    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    elif isinstance(value, dict):
        for key in sorted(value, key=str):
            if key not in TIMING_KEYS:
                digest.update(repr(key).encode())
                _content_bytes(value[key], digest)
    elif isinstance(value, (list, tuple)):
        digest.update(f"{type(value).__name__}{len(value)}".encode())
        for item in value:
            _content_bytes(item, digest)
    else:
        digest.update(repr(value).encode())


def latents_content_digest(path: Path) -> str:
    """Digest of a latents file's content: every tensor's raw bytes and every other value's repr,
    dict keys sorted, lists in order, wall-clock timings (TIMING_KEYS) left out."""
    import torch

    digest = hashlib.sha256()
    _content_bytes(torch.load(path, map_location="cpu", weights_only=True), digest)
    return digest.hexdigest()


def run_job(name: str, workdir: Path, photo: str | None, args: list[str], env: dict) -> subprocess.CompletedProcess:
    command = [shutil.which("facelatent") or "facelatent", *(a.format(photo=photo) for a in args)]
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True)
    if done.returncode != 0:
        sys.exit(f"{name}: `{' '.join(command)}` exited {done.returncode}:\n{done.stderr.decode(errors='replace')}")
    return done


def digests(name: str, kind: str, workdir: Path, done: subprocess.CompletedProcess) -> list[tuple[str, str]]:
    if kind == "video":
        video = workdir / "out.mp4"
        return [(sha256(video.read_bytes()), f"{name}:file"), (video_frames_digest(video), f"{name}:frames")]
    if kind == "latents":
        latents = workdir / "out.latents.pt"
        return [(latents_content_digest(latents), f"{name}:content")]
    if kind == "png":
        return [(sha256((workdir / "out.png").read_bytes()), f"{name}:file")]
    return [(sha256(done.stdout), f"{name}:stdout")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="shared data folder")
    parser.add_argument("--jobs", default=",".join(JOBS), help=f"comma-separated subset of: {', '.join(JOBS)}")
    options = parser.parse_args()
    names = [n for n in options.jobs.split(",") if n]
    unknown = [n for n in names if n not in JOBS]
    if unknown:
        sys.exit(f"error: unknown job(s) {', '.join(unknown)}; choose from {', '.join(JOBS)}")

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    inputs = {"astronaut": ASTRONAUT, "group": options.shared / GROUP_PHOTO}
    for name in names:
        source, args, kind = JOBS[name]
        if source is not None and not inputs[source].is_file():
            print(f"note: {name} skipped: {inputs[source]} is absent", file=sys.stderr)
            continue
        with tempfile.TemporaryDirectory(prefix=f"digest-{name}-") as folder:
            workdir = Path(folder)
            photo = None
            if source is not None:
                photo = inputs[source].name
                shutil.copyfile(inputs[source], workdir / photo)
            done = run_job(name, workdir, photo, args, env)
            for digest, label in digests(name, kind, workdir, done):
                print(f"{digest}  {label}", flush=True)


if __name__ == "__main__":
    main()
