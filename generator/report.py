"""What a build did, for its closing summary and its exit code (TensorFlow-free)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from generator.printable import printable


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

    def input_lines(self) -> list[str]:
        """What was wrong with the inputs, told as the build starts."""
        lines = [f"skipping image {_shown(path)}: {reason}" for path, reason in self.skipped_images]
        lines += [f"passing over {_shown(path)}: {reason}" for path, reason in self.passed_over]
        return lines + ([f"warning: {self.no_photo}"] if self.no_photo else [])

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
