"""Every model's page, one model after another: from the cache where it can be, computed in a
model process of its own where it must be, or failed with a one-line reason (and its earlier
page kept) while the build goes on with the others.
"""

from __future__ import annotations

import gc
import re
import time
import traceback
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import keras
from tqdm import tqdm

from generator.console import Console
from generator.earlier import earlier_output, earlier_page
from generator.figures import FigureWriter
from generator.files import OutputError
from generator.images import SourceImage
from generator.methods import catalog
from generator.methods.budget import OverBudget
from generator.model_pages import ComputedPage, model_page, model_summary
from generator.model_process import ModelProcessFailed, run_in_child
from generator.model_work import ModelWork, compute_model_page
from generator.options import BuildOptions
from generator.output_folder import OutputFolder
from generator.own_models import OwnModelError
from generator.plan import Plan, plan_model
from generator.registry import ModelSpec
from generator.report import BuildReport
from generator.sections import cached_section, trust_section
from generator.site_records import BuiltModels, Figure
from generator.weights import WeightsSource, WeightsUnavailable, prepare_weights


def build_models(
    options: BuildOptions,
    folder: OutputFolder,
    images: list[SourceImage],
    writer: FigureWriter,
    legend: Figure,
    console: Console,
    report: BuildReport,
) -> BuiltModels:
    """Each model of `options` in turn, its outcome told on `console` and kept in `report`.

    Weights are resolved for every model that must be computed before the first one starts.
    """
    plans = {spec.name: plan_model(folder.cache, spec, options, images) for spec in options.specs}
    # An own model's weights are in its file; the others' are found before the first starts.
    to_compute = [s for s in options.specs if plans[s.name].needs_model and s.file is None]
    sources: dict[str, WeightsSource | WeightsUnavailable] = {}
    if options.weights != "random" and to_compute:  # raises NoNetwork for the whole build
        with console.downloads() as bar:
            sources = prepare_weights(to_compute, options.weights, progress=bar)
    built = BuiltModels()
    with console.progress(len(options.specs) * len(images), "models x images") as progress:
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
                    writer, folder, spec, options, images, legend, progress, plan, source, console
                )
                built_here = outcome.built_here
                writer.wait()  # a file that cannot be written fails its own model only
            except (Exception, MemoryError) as error:  # noqa: BLE001 (one model never stops the build)
                _fail(error, spec, folder, writer, console, report, built)
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
            built.summaries.append(page.summary)
            built.pages.append(page)
            console.say(_model_line(spec.name, plan, len(images), outcome, began))
            if not plan.needs_model:
                report.cached.append(spec.name)
    return built


@dataclass(frozen=True)
class _Outcome:
    result: ComputedPage  # the page, its recorded compute seconds, what was computed now
    built_here: bool  # the model was built in this process, which must release it
    peak_gib: float | None = None  # peak memory of the child process that built it


def _build_model_page(
    writer: FigureWriter,
    folder: OutputFolder,
    spec: ModelSpec,
    options: BuildOptions,
    images: list[SourceImage],
    legend: Figure,
    progress: tqdm,
    plan: Plan,
    weights: WeightsSource | None,
    console: Console,
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
        label = spec.weights_label(options.weights)[1]
        writer.keep(f.figure for f in card.filters)
        outcomes = []
        for source in images:
            image = plan.images[source.slug]
            outcomes.append(
                cached_section(
                    writer, folder.cache, spec, source, image, methods, card, legend, label
                )
            )
            progress.update(1)
        trust = None
        if options.evaluate and outcomes:
            scores = {
                slug: {name: s for name, s in image.scores.items() if s is not None}
                for slug, image in plan.images.items()
            }
            parts = {slug: p for slug, p in plan.randomization.items() if p is not None}
            trust = trust_section(
                writer, (spec.name, spec.slug), plan, options.trust_steps, methods, outcomes,
                scores, parts,
            )  # fmt: skip
        if plan.neurons is not None:
            writer.keep(plan.neurons.figures())
        page = model_page(spec, options, card, outcomes, trust=trust, neurons=plan.neurons)
        return _Outcome(page, built_here=False)
    work = ModelWork(spec, options, images, legend, plan, weights or "random")
    if options.isolate:
        child = run_in_child(
            spec.name,
            spec.slug,
            "generator.model_work:child_work",
            "generator.model_builds:failure_reason",
            work,
            progress,
            console.child_log,
        )
        writer.written += child.written
        return _Outcome(child.result, built_here=False, peak_gib=child.peak_gib)
    return _Outcome(compute_model_page(work, writer, folder.cache, progress), built_here=True)


def _fail(
    error: BaseException,
    spec: ModelSpec,
    folder: OutputFolder,
    writer: FigureWriter,
    console: Console,
    report: BuildReport,
    built: BuiltModels,
) -> None:
    """Tell why `spec` failed, and keep its page and pictures of an earlier build if any."""
    reason = failure_reason(error)
    report.failed[spec.name] = reason
    console.detail(f"{spec.name} failed:\n{_failure_details(error)}")
    console.say(f"{spec.name}: FAILED: {reason}")
    kept = earlier_output(folder.ledger, spec.slug)
    writer.written += kept
    if kept:
        report.kept.append(spec.name)
        console.say("  kept its page and pictures from an earlier build")
    public = _public_reason(reason, folder.out)
    summary = model_summary(spec, None, "earlier" if kept else "failed", public)
    built.summaries.append(summary)
    kept_page = earlier_page(folder.out, kept, summary) if kept else None
    built.earlier += [kept_page] if kept_page else []


def _release_models() -> None:
    """Free the last model and its compiled functions before the next one is built.

    Called once the function that held the model has returned, so no reference is left.
    """
    keras.backend.clear_session()
    gc.collect()


def failure_reason(error: BaseException) -> str:
    """One line naming the cause; weights errors already carry the file name and the fix."""
    if isinstance(
        error, WeightsUnavailable | ModelProcessFailed | OutputError | OverBudget | OwnModelError
    ):
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
    checked = [f"{what_} of {count}" for what_, count in outcome.result.checked.items() if count]
    what += f"; trust checks computed: {', '.join(checked)}" if checked else ""
    peak = f", peak {outcome.peak_gib:.2f} GiB" if outcome.peak_gib else ""
    return f"{name}: built ({what}; {time.perf_counter() - began:.1f} s{peak})"


def _failure_details(error: BaseException) -> str:
    """The full traceback for the log: the model process's own when it failed in one."""
    if isinstance(error, ModelProcessFailed) and error.details:
        return error.details
    return "".join(traceback.format_exception(error))
