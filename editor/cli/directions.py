"""``facelatent directions train|show|eval|export``: emotion directions for a generator.

``train`` fits one unit direction per emotion against neutral from labelled latents: generator
samples labelled by the emotion classifier (``--samples N``), a labelled image dataset projected
into the generator (``--dataset PATH``: FER2013 CSV, image,emotion CSV, folder per emotion or a
.tar with labels.csv), or a labelled-latents file saved earlier (``--latents FILE``). ``show``
summarises a direction file, ``eval`` measures edits (classifier success, identity drift),
``export`` writes InterFaceGAN ``.npy`` boundaries. Progress goes to stderr; files are written
atomically; bad input is one ``error:`` line and exit code 1. Where latents come from (projection,
samples, files) lives in :mod:`directions.latent_sources`; this module parses, calls and prints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import numpy as np
import typer

from directions.emotions import EMOTIONS, TARGET_EMOTIONS
from editor.cli.common import (
    DeviceOption, GeneratorOption, JsonOption, check_seed, handle_user_errors, info, load_classifier, progress_bar,
)
from inversion.common.errors import FaceLatentError
from inversion.common.output_files import check_output_file, check_output_folder

if TYPE_CHECKING:
    from directions.labelled_latents import LabelledLatents

directions_app = typer.Typer(name="directions", no_args_is_help=True, add_completion=False,
                             help="Learn, inspect, evaluate and export emotion directions.")

ClassifierOption = Annotated[Optional[Path], typer.Option(
    "--classifier", help="Emotion classifier folder (weights.pt + config.json). Default: the shipped one.")]
EmotionsOption = Annotated[Optional[str], typer.Option(
    "--emotions", help="Comma-separated emotions (default: all six of joy, fear, anger, sadness, disgust, surprise).")]


def register(app: typer.Typer) -> None:
    app.add_typer(directions_app, name="directions")


def parse_emotions(text: Optional[str]) -> list[str]:
    """``joy,fear`` -> ["joy", "fear"] (vocabulary order kept as given); all six when ``None``."""
    if not text:
        return list(TARGET_EMOTIONS)
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in TARGET_EMOTIONS]
    if bad or not names:
        raise FaceLatentError(f"--emotions: unknown {', '.join(bad) or 'empty list'}; valid: {', '.join(TARGET_EMOTIONS)}")
    return list(dict.fromkeys(names))


def parse_strengths(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise FaceLatentError(f"--strengths {text!r}: expected numbers such as 0,1,2,3") from None
    if not values or not all(np.isfinite(values)):
        raise FaceLatentError(f"--strengths {text!r}: expected finite numbers such as 0,1,2,3")
    return values


# torch, the networks and the direction files load in the functions below, not with the module:
# `directions --help` need not wait for them.


def _load_generator(path, device):
    from inversion.checkpoints import generator_identity, load_generator  # noqa: PLC0415
    from inversion.common.devices import pick_device  # noqa: PLC0415

    G = load_generator(path, pick_device(device))
    return G, generator_identity(G)


def _labelled_latents(dataset, samples, latents_file, G, identity, options) -> LabelledLatents:
    """The one source given on the command line, with its progress bar (see :mod:`directions.latent_sources`)."""
    from directions.latent_sources import (  # noqa: PLC0415
        check_one_source, dataset_faces, labelled_latents_from_dataset, labelled_latents_from_file,
        labelled_latents_from_samples, make_projector_encode,
    )

    check_one_source(dataset, samples, latents_file)
    if latents_file is not None:
        return labelled_latents_from_file(latents_file, identity)
    if samples is not None:
        classifier = load_classifier(options["classifier"], options["device"])
        with progress_bar("sampling and classifying") as bar:
            return labelled_latents_from_samples(G, classifier.predict, samples, seed=options["seed"],
                                                 truncation_psi=options["truncation"], space=options["space"],
                                                 generator_identity=identity, progress=bar.update)

    images = dataset_faces(dataset, options["split"], options["emotions"], options["per_class"], options["seed"])
    info(f"{images.description}: {len(images)} faces to project ({options['steps']} steps each)")
    encode = make_projector_encode(G, options["space"], options["steps"], options["seed"], options["align"],
                                   options["lpips"])
    with progress_bar("projecting faces") as bar:
        return labelled_latents_from_dataset(images, encode, batch_size=options["batch_size"],
                                             generator_identity=identity, progress=bar.update)


@directions_app.command("train")
@handle_user_errors
def train(
    output: Annotated[Path, typer.Option("--output", "-o", help="Direction file to write (.pt).")],
    generator: GeneratorOption = None,
    dataset: Annotated[Optional[Path], typer.Option("--dataset", help="Labelled face images to project.")] = None,
    samples: Annotated[Optional[int], typer.Option("--samples", min=2, help="Generator samples labelled by the classifier.")] = None,
    latents: Annotated[Optional[Path], typer.Option("--latents", help="A labelled-latents file saved with --save-latents.")] = None,
    method: Annotated[str, typer.Option("--method", help="mean (centroid difference) or svm (linear boundary).")] = "mean",
    space: Annotated[str, typer.Option("--space", help="w or w+ (per-layer directions).")] = "w",
    layers: Annotated[Optional[str], typer.Option("--layers", help="Layers to fit/apply, e.g. 0-5 (default all).")] = None,
    emotions: EmotionsOption = None,
    seed: Annotated[int, typer.Option("--seed", callback=check_seed, help="Seed for sampling, splits and projection, 0 to 2^32-1.")] = 0,
    classifier: ClassifierOption = None,
    top_ratio: Annotated[Optional[float], typer.Option(
        "--top-ratio", help="Share of most confident samples per class (default 0.5 for classifier-labelled "
        "samples, 1 for human labels).")] = None,
    validation: Annotated[float, typer.Option("--validation", help="Held-out share for the svm accuracy.")] = 0.3,
    orthogonalize: Annotated[bool, typer.Option("--orthogonalize", help="Remove the other emotions' components.")] = False,
    nuisance_pcs: Annotated[int, typer.Option("--nuisance-pcs", min=0, help="Also remove the top K principal axes.")] = 0,
    truncation: Annotated[float, typer.Option("--truncation", help="Truncation psi for --samples.")] = 0.7,
    split: Annotated[Optional[str], typer.Option("--split", help="FER2013 Usage split of --dataset.")] = None,
    per_class: Annotated[int, typer.Option("--per-class", min=2, help="At most this many dataset faces per class.")] = 200,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Projector steps per dataset face.")] = 300,
    align: Annotated[bool, typer.Option("--align/--no-align", help="Detect and align dataset faces (else use them as crops).")] = False,
    lpips: Annotated[str, typer.Option("--lpips", help="LPIPS network for projection: vgg or alex.")] = "vgg",
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 16,
    save_latents: Annotated[Optional[Path], typer.Option("--save-latents", help="Also save the labelled latents.")] = None,
    device: DeviceOption = "auto",
) -> None:
    """Fit emotion directions for a generator and write them with their metadata."""
    import torch  # noqa: PLC0415

    from directions.direction_file import direction_set_from_fits, save_directions  # noqa: PLC0415
    from directions.fitting import METHODS, SPACES, fit_emotion_directions, parse_layers  # noqa: PLC0415 (scipy: ~1 s of start-up)
    from directions.labelled_latents import save_labelled_latents  # noqa: PLC0415 (scipy: ~1 s of start-up)

    if method not in METHODS or space not in SPACES:
        raise FaceLatentError(f"--method must be {' or '.join(METHODS)} and --space {' or '.join(SPACES)}")
    names = parse_emotions(emotions)
    check_output_file(output, "-o")
    if save_latents is not None:
        check_output_file(save_latents, "--save-latents")
    torch.manual_seed(seed)
    G, identity = _load_generator(generator, device)
    layer_mask = parse_layers(layers, G.num_ws)
    options = dict(classifier=classifier, device=device, seed=seed, truncation=truncation, space=space, split=split,
                   emotions=names, per_class=per_class, steps=steps, align=align, lpips=lpips, batch_size=batch_size)
    data = _labelled_latents(dataset, samples, latents, G, identity, options)
    info(data.describe())
    if top_ratio is None:
        top_ratio = 0.5 if data.probs is not None else 1.0
    if save_latents is not None:
        save_labelled_latents(data, save_latents)
    fits = fit_emotion_directions(
        data.latents, data.labels, data.confidences, [EMOTIONS.index(n) for n in names], EMOTIONS.index("neutral"),
        method=method, space=space, layers=layer_mask, orthogonalize_others=orthogonalize,
        nuisance_pcs=nuisance_pcs, num_ws=G.num_ws, seed=seed, top_ratio=top_ratio, validation_ratio=validation)
    settings = dict(method=method, space=space, layers=list(layer_mask), emotions=names, seed=seed, top_ratio=top_ratio,
                    validation_ratio=validation, orthogonalize_others=orthogonalize, nuisance_pcs=nuisance_pcs,
                    truncation=truncation, class_counts=data.class_counts())
    result = direction_set_from_fits(fits, generator=identity, space=space, num_ws=G.num_ws, w_dim=G.w_dim,
                                     data=data.describe(), settings=settings)
    save_directions(result, output)
    info(f"wrote {output}")
    typer.echo(summary(result))


def summary(d) -> str:
    """A readable summary of a DirectionSet: metadata, then one row per emotion."""
    lines = [f"generator  {d.generator}", f"space      {d.space} ({d.num_ws} x {d.w_dim})",
             f"data       {d.data}", f"created    {d.created}  (format version {d.version})",
             f"{'emotion':<9} {'method':<6} {'layers':<8} {'held-out':>8} {'strength':>9} {'range':>15}  counts"]
    for e in d.emotions:
        x = d.get(e)
        acc = f"{100 * x.accuracy:.1f}%" if x.accuracy is not None else "-"
        span = f"{x.strength_range[0]:.2f}-{x.strength_range[1]:.2f}"
        layer_text = f"{min(x.layers)}-{max(x.layers)}" if len(x.layers) == max(x.layers) - min(x.layers) + 1 \
            else ",".join(map(str, x.layers))
        counts = " ".join(f"{k}={v}" for k, v in x.counts.items())
        lines.append(f"{e:<9} {x.method:<6} {layer_text:<8} {acc:>8} {x.strength:>9.3f} {span:>15}  {counts}")
    return "\n".join(lines)


@directions_app.command("show")
@handle_user_errors
def show(file: Annotated[Path, typer.Argument(help="Direction file (.pt).")], as_json: JsonOption = False) -> None:
    """Summarise a direction file: generator, space, and per emotion the method, accuracy and strength."""
    from directions.direction_file import load_directions  # noqa: PLC0415


    d = load_directions(file)
    if not as_json:
        typer.echo(summary(d))
        return
    raw = d.to_dict()
    for entry in raw["directions"].values():
        vector = entry.pop("vector")
        entry["shape"] = list(vector.shape)
    typer.echo(json.dumps(raw, indent=2))


@directions_app.command("eval")
@handle_user_errors
def evaluate(
    file: Annotated[Path, typer.Argument(help="Direction file (.pt).")],
    generator: GeneratorOption = None,
    samples: Annotated[int, typer.Option("--samples", min=1, help="Generator samples to edit.")] = 32,
    latents: Annotated[Optional[list[Path]], typer.Option(
        "--latents", help="Edit these faces instead of samples: `facelatent invert` latents files or "
        "labelled-latents files (repeatable).")] = None,
    strengths: Annotated[str, typer.Option("--strengths", help="Multiples of each direction's recommended strength.")] = "0,1,2,3",
    absolute: Annotated[bool, typer.Option("--absolute", help="Strengths are latent units, not multiples.")] = False,
    emotions: EmotionsOption = None,
    classifier: ClassifierOption = None,
    identity: Annotated[bool, typer.Option("--identity/--no-identity", help="Measure dlib identity drift.")] = True,
    seed: Annotated[int, typer.Option("--seed", callback=check_seed, help="Seed of the samples, 0 to 2^32-1.")] = 0,
    truncation: Annotated[float, typer.Option("--truncation")] = 0.7,
    as_json: JsonOption = False,
    device: DeviceOption = "auto",
) -> None:
    """Edit generator samples (or given faces) along each direction; report classifier success and identity drift."""
    from directions.direction_file import load_directions  # noqa: PLC0415
    from directions.latent_sources import load_eval_latents  # noqa: PLC0415

    from directions.evaluation import DlibIdentity, evaluate_directions, format_table  # noqa: PLC0415 (scipy: ~1 s of start-up)

    levels = parse_strengths(strengths)
    G, gen_identity = _load_generator(generator, device)
    d = load_directions(file, generator_identity=gen_identity)
    names = parse_emotions(emotions) if emotions else list(d.emotions)
    faces = load_eval_latents(latents, gen_identity, G.num_ws) if latents else None
    clf = load_classifier(classifier, device)
    describe = DlibIdentity() if identity else None
    with progress_bar("editing and judging") as bar:
        result = evaluate_directions(G, d, clf.predict, describe=describe, latents=faces, num_samples=samples,
                                     strengths=levels,
                                     relative=not absolute, emotions=names, seed=seed, truncation_psi=truncation,
                                     progress=bar.update)
    typer.echo(json.dumps(result, indent=2) if as_json else format_table(result))


@directions_app.command("export")
@handle_user_errors
def export(file: Annotated[Path, typer.Argument(help="Direction file (.pt).")],
           out_dir: Annotated[Path, typer.Argument(help="Folder for the InterFaceGAN .npy boundaries.")]) -> None:
    """Write one InterFaceGAN boundary per emotion: <emotion>_<w|wp>_boundary.npy, float32 [1, D]."""
    from directions.direction_file import export_interfacegan, load_directions  # noqa: PLC0415


    check_output_folder(out_dir, "OUT_DIR")
    for path in export_interfacegan(load_directions(file), out_dir):
        typer.echo(str(path))
