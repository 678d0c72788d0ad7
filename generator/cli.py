"""Command line: `python -m generator list-models` and `python -m generator build`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from generator import __version__

DEFAULT_IMAGES = Path("sample_images")
DEFAULT_OUT = Path("site_src")


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m generator",
        description="Build the CNN Gallery: pages showing how keras.applications CNNs see images.",
    )
    parser.add_argument("--version", action="version", version=f"cnn-gallery {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list-models", help="print every model the gallery knows, as a table")
    build = commands.add_parser("build", help="compute, render and write the gallery's pages")
    build.add_argument("--models", nargs="+", metavar="NAME", help="models to build (default: all)")
    build.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="folder of images")
    build.add_argument("--out", type=Path, default=DEFAULT_OUT, help="MkDocs docs folder")
    build.add_argument(
        "--weights",
        type=_weights_argument,
        default="imagenet",
        metavar="imagenet|random|DIR",
        help="ImageNet weights via Keras' cache, untrained random weights, or a folder of "
        "Keras weight files (default: imagenet)",
    )
    build.add_argument("--top", type=int, default=5, help="classes explained per image")
    build.add_argument(
        "--shard",
        type=_shard_argument,
        metavar="I/N",
        help="build only shard I of N of the models (for several machines); a final build "
        "without --shard over the merged output folders assembles the site from the cache",
    )
    build.add_argument(
        "--force",
        action="store_true",
        help="write into a non-empty --out folder the generator did not create, and over files "
        "at generated paths that it did not write",
    )
    build.add_argument(
        "--in-process",
        action="store_true",
        help="build every model in this process instead of one child process per model "
        "(faster start, for debugging; memory then grows with each model)",
    )
    bench = commands.add_parser(
        "bench", help="time each stage per image against one compiled forward(+backward) pass"
    )
    bench.add_argument("--models", nargs="+", metavar="NAME", help="default: five reference models")
    bench.add_argument("--image", type=Path, default=DEFAULT_IMAGES / "cat.jpg")
    bench.add_argument("--repeats", type=int, default=5, help="timed runs per figure (median)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = _parser().parse_args(argv)
    # Imported late: TensorFlow takes seconds to load and `--help` should not wait for it.
    from generator.registry import UnknownModelError, discover, format_table, get_spec

    if args.command == "list-models":
        print(format_table(list(discover().values())))
        return 0
    if args.command == "bench":
        from generator import bench

        names = args.models or list(bench.DEFAULT_MODELS)
        try:
            specs = [get_spec(name) for name in names]
        except UnknownModelError as error:
            print(f"error: {error.args[0]}", file=sys.stderr)
            return 2
        bench.run(specs, args.image, args.repeats)
        return 0

    try:
        specs = (
            [get_spec(name) for name in args.models] if args.models else list(discover().values())
        )
    except UnknownModelError as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        return 2
    if args.top < 1:
        print("error: --top must be at least 1", file=sys.stderr)
        return 2
    if not args.images.is_dir():
        print(f"error: image folder {str(args.images)!r} does not exist", file=sys.stderr)
        return 2

    from generator.build import BuildOptions, BuildRefused, build, select_shard

    if args.shard:
        specs = list(select_shard(specs, *args.shard))

    options = BuildOptions(
        specs=tuple(specs),
        images=args.images,
        out=args.out,
        weights=args.weights,
        top=args.top,
        force=args.force,
        isolate=not args.in_process,
    )
    try:
        report = build(options)
    except BuildRefused as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "\ninterrupted: every file written so far is complete; run the same command again "
            "to resume where it stopped",
            file=sys.stderr,
        )
        return 130
    print(report.summary())
    return 0 if report.ok else 1
