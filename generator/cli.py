"""Command line: `python -m generator list-models | build | bench`.

Every argument is checked before TensorFlow is imported (it takes seconds to load), so a typo is
answered at once: model names against `model_facts` (a plain table; tests keep it equal to what
the registry discovers by introspection), method slugs against `methods.catalog.SLUGS` (the
catalog imports its methods, and TensorFlow, only when they are used), folders and numbers by
hand. Exit codes: 0 all built, 1 some model or image failed (or weights could not be had, or
the pages could not be written in full), 2 usage error or nothing built, 130 interrupted (Ctrl-C
or SIGTERM).
"""

from __future__ import annotations

import argparse
import difflib
import re
import signal
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from generator import __version__, console
from generator.methods.budget import DEFAULT_BUDGET_GIB
from generator.methods.catalog import SLUGS as METHOD_SLUGS
from generator.model_facts import MODEL_FACTS
from generator.options import (
    DEFAULT_NEURON_CHANNELS,
    DEFAULT_NEURON_SIZE,
    DEFAULT_NEURON_STEPS,
    DEFAULT_RANDOMIZATION_STEPS,
    DEFAULT_TRUST_STEPS,
)
from generator.own_models import KERAS_PREPROCESSING, OwnModelError, own_model_files
from generator.printable import printable

DEFAULT_IMAGES = Path("sample_images")
DEFAULT_OUT = Path("site_src")
NUMBER_OF_CLASSES = 1000  # ImageNet: --top cannot ask for more
REPO_ROOT = Path(__file__).resolve().parent.parent


class UsageError(Exception):
    """An argument that cannot work; the message names it and the fix (exit code 2)."""


def _weights_argument(value: str) -> str | Path:
    """`imagenet`, `random`, or an existing folder of Keras weight files."""
    if value in ("imagenet", "random"):
        return value
    folder = Path(value)
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(
            f"{value!r} is neither 'imagenet', 'random' nor an existing folder of weight files"
        )
    return folder


def _shard_argument(value: str) -> tuple[int, int]:
    """`I/N`: this machine builds shard I of N."""
    try:
        index, count = (int(part) for part in value.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not of the form I/N, e.g. 2/4") from None
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"shard {value} does not exist: I must be 1 to N")
    return index, count


def _whole_number(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None


def _top_argument(value: str) -> int:
    """Classes explained per image: 1 to 1000."""
    top = _whole_number(value)
    if not 1 <= top <= NUMBER_OF_CLASSES:
        raise argparse.ArgumentTypeError(f"{top} is not between 1 and {NUMBER_OF_CLASSES}")
    return top


def _steps_argument(value: str) -> int:
    """Steps of a trust check: a whole number from 1 to 100."""
    steps = _whole_number(value)
    if not 1 <= steps <= 100:
        raise argparse.ArgumentTypeError(f"{steps} is not between 1 and 100")
    return steps


def _ranged(low: int, high: int) -> Callable[[str], int]:
    """An argument type: a whole number from `low` to `high`."""

    def whole(value: str) -> int:
        number = _whole_number(value)
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{number} is not between {low} and {high}")
        return number

    return whole


def _repeats_argument(value: str) -> int:
    """Timed runs per figure: a whole number, at least 1 (the fastest run is kept)."""
    repeats = _whole_number(value)
    if repeats < 1:
        raise argparse.ArgumentTypeError(
            f"{repeats} is not at least 1: the bench keeps the fastest of that many timed runs"
        )
    return repeats


def _memory_budget_argument(value: str) -> float:
    """GiB a model process may use: a positive number."""
    try:
        gib = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of GiB, e.g. 12") from None
    if not 0 < gib < float("inf"):
        raise argparse.ArgumentTypeError(f"{value} GiB is not a positive number of GiB")
    return gib


def _slug(name: str) -> str:
    """The registry's slug of a constructor name (`registry.slugify`, without importing Keras)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def model_name(name: str) -> str:
    """The constructor name a `--models` entry means (any case, or its slug); else UsageError."""
    wanted = name.strip().lower()
    for known in MODEL_FACTS:
        if wanted in (known.lower(), _slug(known)):
            return known
    lower_to_name = {known.lower(): known for known in MODEL_FACTS}
    close = difflib.get_close_matches(wanted, list(lower_to_name), n=1, cutoff=0.0)
    suggestion = f" Did you mean {lower_to_name[close[0]]!r}?" if close else ""
    raise UsageError(f"unknown model {name!r}.{suggestion} Valid names: {', '.join(MODEL_FACTS)}")


def method_slugs(names: list[str]) -> list[str]:
    """The method slugs a `--methods` list means (any case), each once; else UsageError naming
    the culprit, the closest slug and every valid one."""
    chosen = []
    for name in names:
        wanted = name.strip().lower()
        if wanted not in METHOD_SLUGS:
            close = difflib.get_close_matches(wanted, METHOD_SLUGS, n=1, cutoff=0.6)
            suggestion = f" Did you mean {close[0]!r}?" if close else ""
            raise UsageError(
                f"unknown method {name!r}.{suggestion} Valid methods: {', '.join(METHOD_SLUGS)}"
            )
        if wanted not in chosen:
            chosen.append(wanted)
    return chosen


def _check_build_arguments(args: argparse.Namespace) -> None:
    """Everything `build` can check without TensorFlow; raises UsageError."""
    if args.models:
        args.models = [model_name(name) for name in args.models]
    _check_own_models(args)
    if args.methods:
        args.methods = method_slugs(args.methods)
    if args.many_pass_top > args.top:
        raise UsageError(
            f"--many-pass-top {args.many_pass_top} is more than --top {args.top}: the methods "
            "that need many passes explain some of the top classes, not more"
        )
    if not args.images.is_dir():
        what = "is a file, not a folder" if args.images.exists() else "does not exist"
        raise UsageError(f"--images {printable(args.images)} {what}; pass a folder of photos")
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(
            f"--out {printable(args.out)} is a file, not a folder; pass a folder for the site"
        )
    for parent in args.out.parents:
        if parent.exists() and not parent.is_dir():
            raise UsageError(
                f"--out {printable(args.out)}: {printable(parent)} is a file, not a folder"
            )
    if not (REPO_ROOT / "templates").is_dir():
        raise UsageError(
            f"no templates/ folder beside the generator package ({REPO_ROOT}): the gallery "
            "builds from a checkout of its repository (git clone, then pip install -e .)"
        )


def _check_own_models(args: argparse.Namespace) -> None:
    """`--model-file` and its options as `args.own` (OwnModelFile records); raises UsageError."""
    if not args.model_file:
        for option in ("class_names", "preprocess", "target_layer"):
            if getattr(args, option):
                flag = "--" + option.replace("_", "-")
                raise UsageError(f"{flag} goes with --model-file: it describes your own model")
        args.own = ()
        return
    try:
        args.own = own_model_files(
            args.model_file, args.class_names, args.preprocess, args.target_layer
        )
    except OwnModelError as error:
        raise UsageError(str(error)) from None


def _check_bench_arguments(args: argparse.Namespace) -> None:
    """Everything `bench` can check without TensorFlow; raises UsageError."""
    if args.models:
        args.models = [model_name(name) for name in args.models]
    if args.methods:
        args.methods = method_slugs(args.methods)
    if not args.image.is_file():
        what = "is not a file" if args.image.exists() else "does not exist"
        raise UsageError(f"--image {printable(args.image)} {what}; pass a photo to time")


class _Formatter(argparse.HelpFormatter):
    """Help text wrapped at spaces only, so a slug such as grad-cam-plus-plus stays whole."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        formatter_class=_Formatter,
        prog="python -m generator",
        description="Build the CNN Gallery: pages showing how keras.applications CNNs see images.",
        epilog="exit codes: 0 all built; 1 some model or image failed; 2 usage error",
    )
    parser.add_argument("--version", action="version", version=f"cnn-gallery {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "list-models",
        formatter_class=_Formatter,
        help="print every model the gallery knows, as a table",
        description="Print every model the gallery knows, with its facts, as a table.",
    )
    build = commands.add_parser(
        "build",
        formatter_class=_Formatter,
        help="compute, render and write the gallery's pages",
        description="Compute, render and write the gallery's pages into --out.",
        epilog="exit codes: 0 all built; 1 some model or image failed, weights could not be "
        "had, no usable photo, or the pages could not be written in full; 2 usage error or "
        "another build holds --out, nothing built; 130 interrupted (Ctrl-C or SIGTERM; run "
        "again to resume)",
    )
    build.add_argument(
        "--models",
        nargs="+",
        metavar="NAME",
        help="models to build, by constructor name or slug (default: all 40)",
    )
    build.add_argument(
        "--model-file",
        action="append",
        type=Path,
        metavar="PATH",
        help="also build a page for your own saved Keras image classifier (.keras, or legacy "
        ".h5), under 'Your models'; repeat for several; without --models only these are built "
        "(default: none)",
    )
    build.add_argument(
        "--class-names",
        action="append",
        metavar="FILE",
        help="your model's class names: one per line, or a JSON list; once for every "
        "--model-file or once per file (default: classes shown by index)",
    )
    build.add_argument(
        "--preprocess",
        action="append",
        metavar="HOW",
        help="how your model's input is made from 0-255 pixels: none, a keras.applications "
        f"preprocessing ({', '.join(KERAS_PREPROCESSING)}), scale:F (e.g. scale:1/255) or "
        "mean-std:R,G,B/R,G,B; once for every --model-file or once per file (default: none)",
    )
    build.add_argument(
        "--target-layer",
        action="append",
        metavar="PATH",
        help="the tensor Grad-CAM reads in your model, by layer name or path inside a nested "
        "base (e.g. mobilenetv2_1.00_224/out_relu); once for every --model-file or once per "
        "file (default: the last spatial tensor every path to the classes passes through)",
    )
    build.add_argument(
        "--images",
        type=Path,
        default=DEFAULT_IMAGES,
        help="folder of images (default: %(default)s)",
    )
    build.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="MkDocs docs folder (default: %(default)s)"
    )
    build.add_argument(
        "--weights",
        type=_weights_argument,
        default="imagenet",
        metavar="imagenet|random|DIR",
        help="ImageNet weights via Keras' cache (downloaded when missing), untrained random "
        "weights, or a folder of Keras weight files (default: %(default)s)",
    )
    build.add_argument(
        "--top",
        type=_top_argument,
        default=5,
        help="classes explained per image, 1 to 1000 (default: %(default)s)",
    )
    build.add_argument(
        "--methods",
        nargs="+",
        metavar="SLUG",
        help=f"explanation methods to compute and show, by slug (default: all: "
        f"{' '.join(METHOD_SLUGS)})",
    )
    build.add_argument(
        "--many-pass-top",
        type=_top_argument,
        default=1,
        metavar="K",
        help="classes explained per image by the methods that need many passes per image "
        "(integrated gradients, SmoothGrad, Score-CAM, occlusion), at most --top "
        "(default: %(default)s)",
    )
    build.add_argument(
        "--memory-budget",
        type=_memory_budget_argument,
        default=DEFAULT_BUDGET_GIB,
        metavar="GIB",
        help="memory a model's process may use, in GiB: each pass runs as many inputs at once "
        "as fit, and a method that cannot run even one input within it is left out (named on "
        "the model's page and in the summary) (default: %(default)s)",
    )
    build.add_argument(
        "--no-evaluate",
        dest="evaluate",
        action="store_false",
        help="leave out the checks of how far to trust each method (model randomization, class "
        "sensitivity, deletion and insertion) and the leaderboard; without it they run "
        "(default: off)",
    )
    build.add_argument(
        "--trust-steps",
        type=_steps_argument,
        default=DEFAULT_TRUST_STEPS,
        metavar="N",
        help="deletion and insertion: the photo's pixels are removed or revealed in N equal "
        "steps, most important first, 1 to 100 (default: %(default)s)",
    )
    build.add_argument(
        "--randomization-steps",
        type=_steps_argument,
        default=DEFAULT_RANDOMIZATION_STEPS,
        metavar="N",
        help="model randomization: the weights are re-initialised from the top down in N "
        "steps (the head first, every layer last; at most one step per stage), each explaining "
        "one photo again with every method, 1 to 100 (default: %(default)s)",
    )
    build.add_argument(
        "--no-neurons",
        dest="neurons",
        action="store_false",
        help="leave out what the neurons look for (optimised images of the channels shown, "
        "class pictures, DeepDream, inversion) and the channel pages (default: off)",
    )
    build.add_argument(
        "--neuron-steps",
        type=_ranged(1, 2048),
        default=DEFAULT_NEURON_STEPS,
        metavar="N",
        help="optimisation steps per neuron picture and per inversion, 1 to 2048 (the Distill "
        "article takes 512) (default: %(default)s)",
    )
    build.add_argument(
        "--neuron-size",
        type=_ranged(32, 512),
        default=DEFAULT_NEURON_SIZE,
        metavar="PX",
        help="side of a channel's picture in pixels, 32 to 512; class pictures are 4/3 as "
        "large (default: %(default)s)",
    )
    build.add_argument(
        "--neuron-channels",
        type=_ranged(0, 4096),
        default=DEFAULT_NEURON_CHANNELS,
        metavar="N",
        help="pictures per stage tensor, of the channels the page shows (those shown on most "
        "photos first); every shown channel still gets its place on the channel page "
        "(default: %(default)s)",
    )
    build.add_argument(
        "--neuron-classes",
        type=_ranged(0, 1_000_000),
        nargs="+",
        metavar="INDEX",
        help="class indices to picture besides each photo's top-1 class (default: none)",
    )
    build.add_argument(
        "--shard",
        type=_shard_argument,
        metavar="I/N",
        help="build only shard I of N of the models (for several machines); a final build "
        "without --shard over the merged output folders assembles the site from the cache "
        "(default: all models)",
    )
    build.add_argument(
        "--force",
        action="store_true",
        help="write into a non-empty --out folder the generator did not create, and over files "
        "at generated paths that it did not write (default: off)",
    )
    build.add_argument(
        "--in-process",
        action="store_true",
        help="build every model in this process instead of one child process per model "
        "(faster start, for debugging; memory then grows with each model) (default: off)",
    )
    build.add_argument(
        "--verbose",
        action="store_true",
        help="show TensorFlow's own output and full tracebacks on the terminal instead of "
        "only in the log file (default: off)",
    )
    bench = commands.add_parser(
        "bench",
        formatter_class=_Formatter,
        help="time each explanation method per image against its own floor",
        description="Time each explanation method per image against its own floor: the passes "
        "it needs, run as one batched compiled call, measured in the same run.",
    )
    bench.add_argument(
        "--models",
        nargs="+",
        metavar="NAME",
        help="default: MobileNetV2 ResNet50 VGG16 EfficientNetB0 InceptionV3",
    )
    bench.add_argument(
        "--methods",
        nargs="+",
        metavar="SLUG",
        help=f"methods to time, by slug (default: all: {' '.join(METHOD_SLUGS)})",
    )
    bench.add_argument(
        "--image",
        type=Path,
        default=DEFAULT_IMAGES / "cat.jpg",
        help="the photo timed (default: %(default)s)",
    )
    bench.add_argument(
        "--repeats",
        type=_repeats_argument,
        default=5,
        help="timed runs per figure, at least 1, fastest kept (default: %(default)s)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = _parser().parse_args(argv)  # exits 2 on malformed arguments
    try:
        if args.command == "build":
            _check_build_arguments(args)
        elif args.command == "bench":
            _check_bench_arguments(args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.command == "build":
        return _build(args)
    console.quiet_environment()
    with console.Console(quiet=True) as terminal:  # TensorFlow's lines to a discarded log
        from generator.registry import discover, format_table, get_spec

        if args.command == "list-models":
            print(format_table(list(discover().values())))
            return 0
        from generator import bench
        from generator.images import ImageError
        from generator.methods import catalog

        try:
            bench.run(
                [get_spec(name) for name in args.models or bench.DEFAULT_MODELS],
                args.image,
                args.repeats,
                catalog.select(args.methods),
            )
        except ImageError as error:  # a file that is not a usable photo: known once it is read
            terminal.error(f"error: --image {error}")
            return 2
    return 0


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM (a CI job cancelled, `kill`) stops the build as Ctrl-C does: complete files only,
    model processes asked to finish the files they started, exit code 130."""
    raise KeyboardInterrupt


def _build(args: argparse.Namespace) -> int:
    """`build` with SIGTERM handled as Ctrl-C (see `_interrupt`)."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _run_build(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_build(args: argparse.Namespace) -> int:
    """`build`: TensorFlow's output goes to the log file unless --verbose. An interruption at
    any point, TensorFlow's seconds of loading included, ends with one line and exit code 130."""
    if not args.verbose:
        console.quiet_environment()
    # Ctrl-C or SIGTERM while the console sets up (its log made, the terminal's stream being
    # moved) or while TensorFlow loads waits until they are done (`_build_with` lets it in),
    # then lands in the `try` below like any later one. Raised inside the import of a C
    # extension, the interruption would come out as an ImportError with a traceback.
    _hold_interrupts(signal.SIG_BLOCK)
    with console.Console(quiet=not args.verbose) as terminal:
        try:
            return _build_with(args, terminal)
        except KeyboardInterrupt:
            terminal.error(
                "\ninterrupted: every file written so far is complete; run the same command "
                "again to resume where it stopped"
            )
            return 130


def _hold_interrupts(how: int) -> None:
    """Block or unblock SIGINT and SIGTERM (where the system can)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(how, {signal.SIGINT, signal.SIGTERM})


def _build_with(args: argparse.Namespace, terminal: console.Console) -> int:
    """The build the arguments ask for; a refusal is one line on `terminal`."""
    # Imported here, after the descriptors are redirected: TensorFlow prints as it loads.
    try:
        from generator.build import BuildRefused, OutputFailed, build
        from generator.options import BuildOptions, select_shard
        from generator.registry import discover, get_spec, own_spec
        from generator.weights import NoNetwork
    finally:
        _hold_interrupts(signal.SIG_UNBLOCK)  # an interruption held until now lands here

    if args.models:
        specs = [get_spec(name) for name in args.models]
    else:  # every zoo model, unless only own models are asked for
        specs = [] if args.own else list(discover().values())
    specs += [own_spec(own) for own in args.own]
    if args.shard:
        specs = list(select_shard(specs, *args.shard))
    options = BuildOptions(
        specs=tuple(specs),
        images=args.images,
        out=args.out,
        weights=args.weights,
        top=args.top,
        methods=tuple(args.methods or METHOD_SLUGS),
        many_pass_top=args.many_pass_top,
        memory_budget=args.memory_budget,
        force=args.force,
        isolate=not args.in_process,
        evaluate=args.evaluate,
        trust_steps=args.trust_steps,
        randomization_steps=args.randomization_steps,
        neurons=args.neurons,
        neuron_steps=args.neuron_steps,
        neuron_size=args.neuron_size,
        neuron_channels=args.neuron_channels,
        neuron_classes=tuple(dict.fromkeys(args.neuron_classes or ())),
    )
    try:
        report = build(options, terminal)
    except BuildRefused as error:
        terminal.error(f"error: {error}")
        return 2
    except (NoNetwork, OutputFailed) as error:
        terminal.error(f"error: {error}")
        return 1
    print(report.summary())
    return 0 if report.ok else 1
