"""The build pipeline: models x images -> arrays -> image files -> Markdown pages.

`build` reads the inputs (the photos, the methods' paragraphs), claims the output folder
(`output_folder`), has every model's page made (`model_builds`: from the cache, or computed in a
model process of its own) and writes the site (`publish`). One model is in memory at a time. A
model that fails is reported with its cause, marked failed on the home page, and the build goes
on with the others.
"""

from __future__ import annotations

from generator.console import Console
from generator.figures import FigureWriter, site_figures
from generator.images import ImageError, find_images, no_photo_warning
from generator.method_records import catalog_records
from generator.methods import catalog
from generator.model_builds import build_models
from generator.model_process import peak_rss_gib
from generator.options import BuildOptions, BuildRefused
from generator.output_folder import OutputFolderRefused, claimed
from generator.pages import TEMPLATES_DIR, MissingParagraph, check_paragraphs
from generator.publish import OutputFailed, publish
from generator.report import BuildReport

__all__ = ["BuildRefused", "OutputFailed", "OutputFolderRefused", "build"]


def build(options: BuildOptions, console: Console | None = None) -> BuildReport:
    """Build every requested model's page, then the home and methods pages.

    `console` is where people are told what happens (the CLI's quiet one; by default the
    terminal, with nothing redirected). Raises `BuildRefused` before anything is computed when
    the inputs cannot be built as asked (or another build holds `--out`), `weights.NoNetwork`
    before any model process starts when weights must be downloaded and cannot be, and
    `OutputFailed` when the pages cannot be written in full (a full disk).
    """
    if console is None:
        with Console() as terminal:
            return build(options, terminal)
    try:
        images, skipped, passed_over = find_images(options.images)
    except ImageError as error:  # a missing folder, or two photos that would share one address
        raise BuildRefused(str(error)) from None
    methods = catalog_records(options.top, options.many_pass_top)
    try:  # a method the methods page cannot explain stops the build before any model is built
        check_paragraphs(methods, TEMPLATES_DIR)
    except MissingParagraph as error:
        raise BuildRefused(str(error)) from None
    for name in options.repeated:
        console.say(f"note: {name} was asked for more than once; it is built once")
    report = BuildReport(
        skipped_images=skipped,
        passed_over=passed_over,
        no_photo=no_photo_warning(options.images, images),
    )
    with claimed(options.out, options.force) as folder:
        console.keep_log_in(folder.log_path)
        report.log_path = console.log_path
        if folder.lock_note:
            console.say(f"note: {folder.lock_note}")
        for line in report.input_lines():
            console.say(line)
        for warning in folder.ledger.warnings:
            console.say(f"warning: {warning}")
        selected = catalog.select(options.methods)
        with FigureWriter(folder.ledger) as writer:
            shared = site_figures(writer, selected, images)
            built = build_models(options, folder, images, writer, shared.legend, console, report)
        publish(options, folder, built, writer, shared, methods, console, report)
    report.main_peak_gib = peak_rss_gib()
    return report
