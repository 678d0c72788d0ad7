"""The site's pages, written once every model is done: the model pages, the home, methods and
comparison pages; then the ledger is closed (files of earlier builds that no page needs any more
go), and the build's times and kept page records are saved for the next build.
"""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf

from generator import __version__
from generator.cache import CACHE_DIR
from generator.console import Console
from generator.earlier import kept_links, remember
from generator.figures import FigureWriter, SiteFigures
from generator.files import OutputError, unwritable
from generator.manifest import ForeignFile
from generator.methods import catalog
from generator.options import BuildOptions
from generator.output_folder import OutputFolder
from generator.pages import page_path, write_site
from generator.reference_times import (
    Configuration,
    configuration,
    record_build_times,
    reference_note,
    reference_times,
)
from generator.report import BuildReport
from generator.site_records import BuiltModels, MethodRecord, SiteInfo
from generator.weights import weights_label


class OutputFailed(RuntimeError):
    """The site could not be written in full (a full disk) after models were built; every file
    written until then is complete and is reused by the next build."""


def _site_info(options: BuildOptions, timed: Configuration) -> SiteInfo:
    """What every page says about the build: weights, versions, the reference machine."""
    mode, label = weights_label(options.weights)
    note = reference_note(timed)
    return SiteInfo(
        title="CNN Gallery",
        version=__version__,
        weights_mode=mode,
        weights_label=label,
        keras_version=keras.__version__,
        tensorflow_version=tf.__version__,
        reference_machine=reference_times().machine,
        reference_images=reference_times().images,
        reference_applies=note.applies,
        reference_measured_with=note.measured_with,
        methods=tuple(method.title for method in catalog.select(options.methods)),
    )


def publish(
    options: BuildOptions,
    folder: OutputFolder,
    built: BuiltModels,
    writer: FigureWriter,
    shared: SiteFigures,
    methods: tuple[MethodRecord, ...],
    console: Console,
    report: BuildReport,
) -> None:
    """Write the pages, close the ledger and save what the next build reads.

    `writer` has written this build's figures. A page over a file the generator did not write
    is left out, with a message. Raises `OutputFailed` when the disk refuses (the files written
    so far are whole).
    """
    photos = len(shared.thumbnails)
    timed = configuration(options.methods, options.top, options.many_pass_top, photos)
    ledger = folder.ledger
    refused: set[str] = set()

    def write_page(path: Path, text: str) -> bool:
        try:
            ledger.write_text(path, text)
        except ForeignFile as error:
            refused.add(ledger.relative(path))
            report.refused.append(str(error))
            console.say(f"not written: {error}")
            return False
        return True

    try:
        written_pages = write_site(
            folder.out,
            _site_info(options, timed),
            built.summaries,
            built.pages,
            shared.thumbnails,
            write_text=write_page,
            methods=methods,
            legends=shared.legends,
            method_legends=shared.method_legends,
            earlier=built.earlier,
        )
        pages_written = {ledger.relative(path) for path in written_pages} - refused
        others = [p for p in _other_pages(folder.out, pages_written) if not ledger.owns(p)]
        writer.written += kept_links(ledger, others)
        for ledger_note in ledger.finish([*writer.written, *pages_written]):
            console.say(f"note: {ledger_note}")
        try:
            record_build_times(folder.out / CACHE_DIR / "build-times.json", report.built, timed)
            remember(folder.out, [p for p in built.pages if page_path(p) in pages_written])
        except OSError as error:
            raise unwritable(error, folder.out, CACHE_DIR) from error
    except OutputError as error:  # disk full, read-only: the files written so far are complete
        raise OutputFailed(str(error)) from None


def _other_pages(out: Path, written: set[str]) -> list[str]:
    """The pages of `out` this build did not write (the cache and other dot-folders left out):
    the generator's that go, a failed model's kept page, a user's own, one it was refused."""
    pages = (page.relative_to(out).as_posix() for page in out.rglob("*.md"))
    return sorted(
        page
        for page in pages
        if page not in written and not any(part.startswith(".") for part in page.split("/"))
    )
