"""The build pipeline: models x images -> arrays -> image files -> Markdown pages.

This module orchestrates: it asks the cache first (`plan`), resolves the weights of what must be
computed, has each model computed (`model_work`, in a child process of its own), writes the pages
(`pages`) and reports. One model is in memory at a time and is released before the next. A
model that fails (missing weights, an exception) is reported with its cause, marked failed on the
home page, and the build goes on with the others.
"""

from __future__ import annotations

import dataclasses
import gc
import re
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import keras
import tensorflow as tf
from tqdm import tqdm

from generator import __version__
from generator.cache import Cache
from generator.console import Console
from generator.earlier import earlier_output, earlier_page, kept_links, remember
from generator.figures import FigureWriter, explanation_legend, family_legends, thumbnail
from generator.files import TEMP_PREFIX
from generator.images import ImageError, SourceImage, find_images
from generator.manifest import (
    JOURNAL_DIR,
    MANIFEST_NAME,
    ForeignFile,
    Ledger,
    OutputError,
    unwritable,
)
from generator.method_records import catalog_records
from generator.methods import catalog
from generator.methods.budget import OverBudget
from generator.model_pages import ComputedPage, model_page, model_summary
from generator.model_process import ModelProcessFailed, peak_rss_gib, run_in_child
from generator.model_work import ModelWork, compute_model_page
from generator.options import BuildOptions
from generator.output_lock import LOCK_NAME, OutputLock, OutputLocked
from generator.pages import (
    TEMPLATES_DIR,
    MissingParagraph,
    check_paragraphs,
    page_path,
    write_site,
)
from generator.plan import CACHE_DIR, Plan, plan_model
from generator.printable import printable
from generator.reference_times import (
    configuration,
    record_build_times,
    reference_note,
    reference_times,
)
from generator.registry import ModelSpec
from generator.sections import cached_section
from generator.site_records import Figure, MethodRecord, ModelPage, ModelSummary, SiteInfo
from generator.weights import WeightsSource, WeightsUnavailable, prepare_weights, weights_label

SITE_MARKER = ".gallery-site"  # "this folder is a gallery docs folder": safe to write into
LOG_NAME = "build.log"  # in CACHE_DIR: the last build's library output and tracebacks


class BuildRefused(RuntimeError):
    """The build cannot go on as asked; the message names the culprit and the fix."""


class OutputFolderRefused(BuildRefused):
    """`--out` is a non-empty folder the generator did not create."""


class OutputFailed(RuntimeError):
    """The site could not be written in full (a full disk) after models were built; every file
    written until then is complete and is reused by the next build."""


@dataclass
class BuildReport:
    """What happened, for the closing summary and the exit code."""

    built: dict[str, float] = field(default_factory=dict)  # model -> recorded compute seconds
    cached: list[str] = field(default_factory=list)  # models no part of which was computed
    # model -> method slug -> on how many images its pictures were computed (absent: reused)
    computed: dict[str, dict[str, int]] = field(default_factory=dict)
    peak_gib: dict[str, float] = field(default_factory=dict)  # model -> its process's peak
    main_peak_gib: float = 0.0  # the build process itself
    failed: dict[str, str] = field(default_factory=dict)  # model -> reason
    kept: list[str] = field(default_factory=list)  # failed models whose earlier page is kept
    skipped_images: list[tuple[Path, str]] = field(default_factory=list)
    passed_over: list[tuple[Path, str]] = field(default_factory=list)  # hidden, sub-folders
    no_photo: str = ""  # the warning when the images folder holds no usable photo
    refused: list[str] = field(default_factory=list)  # pages not written over a user's file
    log_path: Path | None = None  # full tracebacks and library output

    @property
    def ok(self) -> bool:
        return not (self.failed or self.skipped_images or self.refused or self.no_photo)

    def summary(self) -> str:
        lines = [f"Built {len(self.built)} model(s), {len(self.failed)} failed."]
        if self.cached:
            lines[0] += f" {len(self.cached)} of them came whole from the cache."
        for name, seconds in self.built.items():
            if name in self.cached:
                lines.append(f"  {name:<22} cached")
                continue
            peak = self.peak_gib.get(name)
            lines.append(
                f"  {name:<22} {seconds:7.1f} s" + (f"  peak {peak:5.2f} GiB" if peak else "")
            )
        lines += [f"  FAILED {name}: {reason}" for name, reason in self.failed.items()]
        lines += [f"  kept the page of {name} from an earlier build" for name in self.kept]
        lines += [f"  not written: {reason}" for reason in self.refused]
        lines += [
            f"  skipped image {_shown(path)}: {reason}" for path, reason in self.skipped_images
        ]
        lines += [f"  passed over {_shown(path)}: {reason}" for path, reason in self.passed_over]
        lines += [f"warning: {self.no_photo}"] if self.no_photo else []
        if self.peak_gib:
            largest = max(self.peak_gib, key=lambda name: self.peak_gib[name])
            lines.append(
                f"Peak memory: {self.main_peak_gib:.2f} GiB in the build process; model "
                f"processes up to {self.peak_gib[largest]:.2f} GiB ({largest})."
            )
        if self.log_path is not None:
            lines.append(f"Full log (library output, tracebacks): {self.log_path}")
        return "\n".join(lines)


def _shown(path: Path) -> str:
    """An input's file name as one printable line (see `printable`)."""
    return printable(path.name)


def _release_models() -> None:
    """Free the last model and its compiled functions before the next one is built.

    Called once the function that held the model has returned, so no reference is left.
    """
    keras.backend.clear_session()
    gc.collect()


def _build_model_page(
    writer: FigureWriter,
    cache: Cache,
    spec: ModelSpec,
    options: BuildOptions,
    images: list[SourceImage],
    legend: Figure,
    progress: tqdm,
    plan: Plan,
    weights: WeightsSource | None,
    log_path: str | None,
) -> _Outcome:
    """One model's page context: from the cache where possible, computing only what is missing.

    The model is built only when some part of its page must be computed; `weights` is then the
    source the build process resolved for it (None for random weights). A grid whose methods
    are all cached (one was removed from `--methods`) is redrawn here from their stored cells.
    """
    if not plan.needs_model:
        card = plan.card
        assert card is not None, "a plan needs no model only when its card is cached"
        methods = catalog.select(options.methods)
        label = weights_label(options.weights)[1]
        writer.keep(f.figure for f in card.filters)
        outcomes = []
        for source in images:
            image = plan.images[source.slug]
            outcomes.append(
                cached_section(writer, cache, spec, source, image, methods, card, legend, label)
            )
            progress.update(1)
        return _Outcome(model_page(spec, options, card, outcomes), built_here=False)
    work = ModelWork(spec, options, images, legend, plan, weights or "random")
    if options.isolate:
        child = run_in_child(
            spec.name,
            spec.slug,
            "generator.model_work:child_work",
            "generator.build:_failure_reason",
            work,
            progress,
            log_path,
        )
        writer.written += child.written
        return _Outcome(child.result, built_here=False, peak_gib=child.peak_gib)
    return _Outcome(compute_model_page(work, writer, cache, progress), built_here=True)


@dataclass(frozen=True)
class _Outcome:
    result: ComputedPage  # the page, its recorded compute seconds, what was computed now
    built_here: bool  # the model was built in this process, which must release it
    peak_gib: float | None = None  # peak memory of the child process that built it


def _failure_reason(error: BaseException) -> str:
    """One line naming the cause; weights errors already carry the file name and the fix."""
    if isinstance(error, WeightsUnavailable | ModelProcessFailed | OutputError | OverBudget):
        return str(error)
    where = traceback.extract_tb(error.__traceback__)[-1]
    return f"{type(error).__name__}: {error} (at {Path(where.filename).name}:{where.lineno})"


def _public_reason(reason: str, out: Path) -> str:
    """A failure reason for the published pages: no absolute path of the builder's machine.

    Paths inside the output folder become relative to it, paths in the home folder start with
    `~`, any other absolute path is cut to its last two parts. The terminal keeps the original.
    """
    roots = [(str(out.resolve()), ""), (str(Path.home()), "~/")]

    def shorten(match: re.Match) -> str:
        path = match.group(0)
        for root, shown in roots:
            if path == root or path.startswith(root.rstrip("/") + "/"):
                return shown + path[len(root) :].lstrip("/") or "."
        return "…/" + "/".join(PurePosixPath(path).parts[-2:])

    return _ABSOLUTE_PATH.sub(shorten, reason)


# A POSIX absolute path (at the start or after a space, quote or bracket), or a Windows one.
_ABSOLUTE_PATH = re.compile(r"(?:(?<=^)|(?<=[\s'\"(\[=]))(?:/|[A-Za-z]:\\)[^\s'\"()\[\],;]+")


def prepare_output(out: Path, force: bool) -> None:
    """Refuse a foreign non-empty folder; create and mark ours (which checks it is writable).

    A folder is ours when it holds the manifest, the site marker (the repository's
    `site_src/` ships the marker beside its hand-written files) or the write journals: a build
    cache restored into a fresh folder (CI) brings its journals, not the manifest.
    """
    if out.exists() and not out.is_dir():
        raise OutputFolderRefused(
            f"--out {out} is a file, not a folder; choose a folder (new or one the generator "
            "wrote) for the site"
        )
    ours = any((out / name).exists() for name in (MANIFEST_NAME, SITE_MARKER, JOURNAL_DIR))
    if out.is_dir() and any(out.iterdir()) and not ours and not force:
        raise OutputFolderRefused(
            f"--out {out} is a non-empty folder that the generator did not create; choose an "
            "empty or new folder, or pass --force to write into it (files the generator did "
            "not write are never deleted)"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputFolderRefused(
            f"cannot create --out {out} ({error.strerror or error}); create it yourself, or "
            "choose another folder"
        ) from None
    try:
        if not (out / SITE_MARKER).exists():  # left alone when there: a rebuild writes nothing new
            (out / SITE_MARKER).touch()
    except OSError as error:
        raise OutputFolderRefused(str(unwritable(error, out, SITE_MARKER))) from None


def _lock_output(out: Path) -> tuple[OutputLock, str | None]:
    """`out`'s lock, held, and the note when a killed build's lock was taken over; then the
    temporary files a killed build left are cleared (only the generator's own, `TEMP_PREFIX`):
    while another build runs they are its files being written, so the lock comes first."""
    lock = OutputLock(out)
    try:
        note = lock.acquire()
    except OutputLocked as error:
        raise OutputFolderRefused(str(error)) from None
    except OSError as error:
        raise OutputFolderRefused(str(unwritable(error, out, LOCK_NAME))) from None
    try:
        for leftover in out.rglob(f"{TEMP_PREFIX}*"):  # writes cut short by SIGKILL
            leftover.unlink(missing_ok=True)
    except OSError as error:
        lock.release()
        raise OutputFolderRefused(str(unwritable(error, out, "its temporary files"))) from None
    return lock, note


def _unique_specs(specs: Iterable[ModelSpec], console: Console) -> tuple[ModelSpec, ...]:
    """Each model once, in the order first asked for; a repeat is merged with a note."""
    unique: dict[str, ModelSpec] = {}
    for spec in specs:
        if spec.name in unique:
            console.say(f"note: {spec.name} was asked for more than once; it is built once")
        unique.setdefault(spec.name, spec)
    return tuple(unique.values())


def _no_photo(folder: Path, images: list[SourceImage]) -> str:
    """The warning for an images folder without one usable photo ("" when it has one)."""
    if images:
        return ""
    return (
        f"--images {printable(folder)} holds no usable photo, so the pages show each model's "
        "filters but no photo; put JPEG or PNG photos into it (or pass another --images)"
    )


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
    options = dataclasses.replace(options, specs=_unique_specs(options.specs, console))
    prepare_output(options.out, options.force)
    lock, lock_note = _lock_output(options.out)
    try:
        console.keep_log_in(options.out / CACHE_DIR / LOG_NAME)
        if lock_note:
            console.say(f"note: {lock_note}")
        report = BuildReport(
            skipped_images=skipped,
            passed_over=passed_over,
            no_photo=_no_photo(options.images, images),
            log_path=console.log_path,
        )
        for path, reason in report.skipped_images:
            console.say(f"skipping image {_shown(path)}: {reason}")
        for path, reason in report.passed_over:
            console.say(f"passing over {_shown(path)}: {reason}")
        if report.no_photo:
            console.say(f"warning: {report.no_photo}")
        return _build_locked(options, console, images, methods, report)
    finally:
        lock.release()


def _build_locked(
    options: BuildOptions,
    console: Console,
    images: list[SourceImage],
    methods: tuple[MethodRecord, ...],
    report: BuildReport,
) -> BuildReport:
    """The build itself, once the output folder is ready and locked."""
    ledger = Ledger(options.out, options.force)
    for warning in ledger.warnings:
        console.say(f"warning: {warning}")
    cache = Cache(options.out / CACHE_DIR)
    plans = {spec.name: plan_model(cache, spec, options, images) for spec in options.specs}
    sources = _resolve_weights(
        [spec for spec in options.specs if plans[spec.name].needs_model], options, console
    )
    writer = FigureWriter(ledger)
    mode, label = weights_label(options.weights)
    timed = configuration(options.methods, options.top, options.many_pass_top, len(images))
    note = reference_note(timed)
    selected = catalog.select(options.methods)
    site = SiteInfo(
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
        methods=tuple(method.title for method in selected),
    )
    legend = explanation_legend(writer, selected)
    legends = family_legends(writer, selected)
    thumbnails = [thumbnail(writer, source) for source in images]

    summaries: list[ModelSummary] = []
    pages: list[ModelPage] = []
    earlier_pages: list[ModelPage] = []  # failed models' kept pages, for the comparisons
    total = len(options.specs) * len(images)
    with writer, console.progress(total, "models x images") as progress:
        for spec in options.specs:
            done_before = progress.n
            built_here = not options.isolate
            plan = plans[spec.name]
            began = time.perf_counter()
            try:
                source = sources.get(spec.name)
                if isinstance(source, WeightsUnavailable):
                    raise source
                if options.isolate and plan.needs_model:
                    console.detail(f"{spec.name}: starting its model process")
                outcome = _build_model_page(
                    writer,
                    cache,
                    spec,
                    options,
                    images,
                    legend,
                    progress,
                    plan,
                    source,
                    console.child_log,
                )
                built_here = outcome.built_here
                writer.wait()  # a file that cannot be written fails its own model only
            except (Exception, MemoryError) as error:  # noqa: BLE001 (one model never stops the build)
                reason = _failure_reason(error)
                report.failed[spec.name] = reason
                console.detail(f"{spec.name} failed:\n{_failure_details(error)}")
                console.say(f"{spec.name}: FAILED: {reason}")
                kept = earlier_output(ledger, spec.slug)
                writer.written += kept
                if kept:
                    report.kept.append(spec.name)
                    console.say("  kept its page and pictures from an earlier build")
                public = _public_reason(reason, options.out)
                summary = model_summary(spec, None, "earlier" if kept else "failed", public)
                summaries.append(summary)
                kept_page = earlier_page(options.out, kept, summary) if kept else None
                earlier_pages += [kept_page] if kept_page else []
                progress.update(done_before + len(images) - progress.n)
                continue
            finally:
                if built_here:
                    _release_models()
            page = outcome.result.page
            report.built[spec.name] = round(outcome.result.seconds, 1)
            report.computed[spec.name] = outcome.result.computed
            if outcome.peak_gib:
                report.peak_gib[spec.name] = outcome.peak_gib
            summaries.append(page.summary)
            pages.append(page)
            console.say(_model_line(spec.name, plan, len(images), outcome, began))
            if not plan.needs_model:
                report.cached.append(spec.name)

    refused: set[str] = set()

    def write_page(path: Path, text: str) -> bool:
        """A page over a file the generator did not write is left out, with a message."""
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
            options.out,
            site,
            summaries,
            pages,
            thumbnails,
            write_text=write_page,
            methods=methods,
            legends=legends,
            earlier=earlier_pages,
        )
        pages_written = {ledger.relative(path) for path in written_pages} - refused
        others = [p for p in _other_pages(options.out, pages_written) if not ledger.owns(p)]
        writer.written += kept_links(ledger, others)
        for ledger_note in ledger.finish([*writer.written, *pages_written]):
            console.say(f"note: {ledger_note}")
        times = options.out / CACHE_DIR / "build-times.json"
        try:
            record_build_times(times, report.built, timed)
            remember(options.out, [p for p in pages if page_path(p) in pages_written])
        except OSError as error:
            raise unwritable(error, options.out, CACHE_DIR) from error
    except OutputError as error:  # disk full, read-only: the files written so far are complete
        raise OutputFailed(str(error)) from None
    report.main_peak_gib = peak_rss_gib()
    return report


def _other_pages(out: Path, written: set[str]) -> list[str]:
    """The pages of `out` this build did not write (the cache and other dot-folders left out):
    the generator's that go, a failed model's kept page, a user's own, one it was refused."""
    pages = (page.relative_to(out).as_posix() for page in out.rglob("*.md"))
    return sorted(
        page
        for page in pages
        if page not in written and not any(part.startswith(".") for part in page.split("/"))
    )


def _resolve_weights(
    specs: list[ModelSpec], options: BuildOptions, console: Console
) -> dict[str, WeightsSource | WeightsUnavailable]:
    """Each model to compute -> its weights source, found or downloaded before any child starts.

    Raises `NoNetwork` (one message for the whole build) when downloads cannot be made.
    """
    if options.weights == "random" or not specs:
        return {}
    with console.downloads() as bar:
        return prepare_weights(specs, options.weights, progress=bar)


def _model_line(name: str, plan: Plan, images: int, outcome: _Outcome, began: float) -> str:
    """The one terminal line for a finished model: what was computed, what was reused."""
    if plan.complete:
        return f"{name}: cached"
    if not plan.needs_model:
        redrawn = sum(image.grid is None for image in plan.images.values())
        return f"{name}: cached (methods changed: grid redrawn for {redrawn} image(s))"
    computed = outcome.result.computed
    slugs = plan.methods
    if slugs and all(computed.get(slug) == images for slug in slugs):
        what = f"{images} image(s) computed"
    else:
        by_count: dict[int, list[str]] = {}  # methods computed on as many images, together
        for slug, count in computed.items():
            by_count.setdefault(count, []).append(slug)
        what = "computed: " + (
            "; ".join(
                f"{', '.join(slugs)} on {count} of {images} image(s)"
                for count, slugs in by_count.items()
            )
            or "no method"
        )
        left_out = outcome.result.left_out
        reused = [slug for slug in slugs if slug not in computed and slug not in left_out]
        what += f"; reused: {', '.join(reused)}" if reused else ""
        what += f"; left out for memory: {', '.join(left_out)}" if left_out else ""
    peak = f", peak {outcome.peak_gib:.2f} GiB" if outcome.peak_gib else ""
    return f"{name}: built ({what}; {time.perf_counter() - began:.1f} s{peak})"


def _failure_details(error: BaseException) -> str:
    """The full traceback for the log: the model process's own when it failed in one."""
    if isinstance(error, ModelProcessFailed) and error.details:
        return error.details
    return "".join(traceback.format_exception(error))
