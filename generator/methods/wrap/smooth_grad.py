"""SmoothGrad (Smilkov et al. 2017) around any input-gradient method (captum's NoiseTunnel idea).

The wrapper asks for its base method's input gradients at `samples` noisy copies of the image
instead of the image itself, runs the base's own `compute` on those copies (folded into the
batch axis, so the base sees them as separate images) and averages the base's maps over the
copies. It never repeats the base's maths: SmoothGrad of gradient saliency averages saliency
maps, SmoothGrad of Guided Backprop averages guided gradients.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from generator.methods.base import (
    Attribution,
    Context,
    Display,
    Family,
    InputGradients,
    Kind,
    Method,
    Noise,
    Paper,
    Passes,
    Same,
    Sampled,
)

# The catalog's slugs and titles: SmoothGrad of the plain gradient is the paper's own SmoothGrad.
_NAMES = {
    "saliency": ("smoothgrad", "SmoothGrad"),
    "guided-backprop": ("smoothgrad-guided", "SmoothGrad of Guided Backprop"),
}


@dataclass(frozen=True)
class SmoothGrad(Method):
    """The base method's maps averaged over noisy copies of the image."""

    paper = Paper(
        "D. Smilkov, N. Thorat, B. Kim, F. Viégas, M. Wattenberg",
        2017,
        "SmoothGrad: removing noise by adding noise",
        "ICML workshop",
        "https://arxiv.org/abs/1706.03825",
    )
    many_passes = True

    base: Method
    level: float = 0.15  # noise standard deviation, as a fraction of the image's value range
    samples: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError(f"SmoothGrad needs samples >= 1, got {self.samples}")
        if self.level < 0:
            raise ValueError(f"SmoothGrad needs a noise level >= 0, got {self.level}")

    # The class variables of other methods, derived here from the base. mypy reports a property
    # over a ClassVar as an incompatible override (the ignores); both read as `method.slug`.
    @property
    def slug(self) -> str:  # type: ignore[override]
        return _NAMES.get(self.base.slug, (f"smoothgrad-{self.base.slug}",))[0]

    @property
    def title(self) -> str:  # type: ignore[override]
        return _NAMES.get(self.base.slug, (None, f"SmoothGrad of {self.base.title}"))[1]

    @property
    def kind(self) -> Kind:  # type: ignore[override]
        return self.base.kind

    @property
    def display(self) -> Display:  # type: ignore[override]
        return self.base.display

    @property
    def family(self) -> Family:  # type: ignore[override]
        return self.base.family

    def options(self) -> dict[str, Any]:
        """The base's slug and options, then the noise options."""
        base = {f"base_{name}": value for name, value in self.base.options().items()}
        return {
            "base": self.base.slug,
            **base,
            "level": self.level,
            "samples": self.samples,
            "seed": self.seed,
        }

    def noise(self) -> Noise:
        return Noise(self.level, self.samples, self.seed)

    def _noisy(self, need: Any) -> InputGradients:
        """The base's need, asked at the noisy copies instead of the image."""
        if not isinstance(need, InputGradients) or need.inputs != Same():
            raise ValueError(
                f"SmoothGrad wraps input-gradient methods at the image itself; "
                f"{self.base.slug!r} needs {need!r}"
            )
        return dataclasses.replace(need, inputs=self.noise())

    def needs(self, context: Context) -> tuple[Any, ...]:
        return tuple(self._noisy(need) for need in self.base.needs(context))

    def compute(self, passes: Passes, context: Context) -> Attribution:
        base_needs = self.base.needs(context)
        noisy = {need: passes[self._noisy(need)] for need in base_needs}
        first = next(iter(noisy.values()))
        shape = tf.shape(first.inputs)  # (N, S, H, W, 3)
        n, s = shape[0], shape[1]
        # Every copy becomes an image of its own, with one sample: (N * S, 1, ...).
        folded = {need: _fold(sampled) for need, sampled in noisy.items()}
        copies = folded[next(iter(folded))]
        base_passes = Passes(
            images=copies.inputs[:, 0],
            logits=copies.logits[:, 0],
            classes=tf.repeat(passes.classes, s, axis=0),
            references=passes.references,
            results=folded,
        )
        base = self.base.compute(base_passes, context)
        return Attribution(
            _sample_mean(base.maps, n, s),
            {name: _sample_mean(note, n, s) for name, note in base.notes.items()},
        )


def _fold(sampled: Sampled) -> Sampled:
    """(N, S, ...) samples as N * S images of one sample each."""

    def fold(tensor: tf.Tensor) -> tf.Tensor:
        shape = tf.shape(tensor)
        return tf.reshape(tensor, tf.concat([[shape[0] * shape[1], 1], shape[2:]], axis=0))

    gradients = None if sampled.gradients is None else fold(sampled.gradients)
    return Sampled(fold(sampled.inputs), fold(sampled.logits), gradients)


def _sample_mean(tensor: tf.Tensor, n: tf.Tensor, s: tf.Tensor) -> tf.Tensor:
    """(N * S, ...) -> mean over the S copies of each image, (N, ...)."""
    shape = tf.shape(tensor)
    grouped = tf.reshape(tensor, tf.concat([[n, s], shape[1:]], axis=0))
    return tf.reduce_mean(tf.cast(grouped, tf.float32), axis=1)
