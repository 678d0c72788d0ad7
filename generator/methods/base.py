"""What an explanation method is, and the passes over the model it may ask for.

A method declares itself (slug, title, paper, kind, how its map is displayed, its options as
dataclass fields with defaults) and the shared passes it needs, as values (`needs`). The
`Explainer` collects the needs of every selected method, runs each distinct pass once inside one
compiled call per model, and hands each method the results (`Passes`); the method's `compute`
turns them into its map with TensorFlow operations, inside the same compiled call. Two methods
that need the same pass (Guided Backprop and Guided Grad-CAM both need the guided input
gradients) get it once.

Everything here is model space: images are the model's preprocessed inputs, classes are indices
into its pre-softmax logits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

import tensorflow as tf

from generator.methods.backward_rules import Rule
from generator.methods.display import Display  # how a map is drawn (TF-free, for render)
from generator.methods.families import Family  # the grid a page shows it in (TF-free)
from generator.methods.paper import Paper

Kind = Literal["class map", "input attribution"]


# ---------------------------------------------------------------------- inputs made from the image


class InputMaker(Protocol):
    """Makes S inputs from each image, (N, H, W, 3) -> (N, S, H, W, 3), with `make`; says how
    many with `count(height, width)` (at most, where it depends on the model), so that a pass's
    memory is planned before it runs (`memory.MemoryPlan`); and says what they are in words for
    the methods page with `describe`. A frozen dataclass, so equal makers are one pass."""

    def count(self, height: int, width: int) -> int: ...

    def make(
        self, images: tf.Tensor, references: References, activations: Mapping
    ) -> tf.Tensor: ...

    def describe(self) -> str: ...

    def __hash__(self) -> int: ...  # frozen dataclasses hash by value: equal makers are one pass


@dataclass(frozen=True)
class References:
    """Images in model space that methods compare against: a black and a mid-grey photo."""

    black: tf.Tensor  # (1, H, W, 3)
    grey: tf.Tensor  # (1, H, W, 3)


@dataclass(frozen=True)
class Same:
    """The image itself (one sample)."""

    def count(self, height: int, width: int) -> int:
        return 1

    def describe(self) -> str:
        return "the image"

    def make(self, images: tf.Tensor, references: References, activations: Mapping) -> tf.Tensor:
        return images[:, None]


@dataclass(frozen=True)
class StraightPath:
    """`steps + 1` points from the black image to the image, both ends included."""

    steps: int

    def count(self, height: int, width: int) -> int:
        return self.steps + 1

    def describe(self) -> str:
        return f"{self.steps + 1} points on the straight path from the black photo"

    def make(self, images: tf.Tensor, references: References, activations: Mapping) -> tf.Tensor:
        alphas = tf.reshape(tf.linspace(0.0, 1.0, self.steps + 1), (1, -1, 1, 1, 1))
        black = references.black[:, None]
        return black + alphas * (images[:, None] - black)


@dataclass(frozen=True)
class Noise:
    """`samples` copies with Gaussian noise of standard deviation `level` × the image's value
    range, from a fixed seed so that a rebuild draws the same noise. Every image gets the same
    draw (scaled to its range): an image's copies do not depend on the batch it is in."""

    level: float
    samples: int
    seed: int = 0

    def count(self, height: int, width: int) -> int:
        return self.samples

    def describe(self) -> str:
        return counted(self.samples, "noisy copy", "noisy copies")

    def make(self, images: tf.Tensor, references: References, activations: Mapping) -> tf.Tensor:
        spread = tf.reduce_max(images, axis=(1, 2, 3)) - tf.reduce_min(images, axis=(1, 2, 3))
        shape = tf.concat([[self.samples], tf.shape(images)[1:]], axis=0)
        noise = tf.random.stateless_normal(shape, seed=(self.seed, 0))  # (S, H, W, 3)
        return images[:, None] + noise * (self.level * spread)[:, None, None, None, None]


def counted(number: int, singular: str, plural: str) -> str:
    """ "1 class", "2 classes": a count in words for the methods page."""
    return f"{number} {singular if number == 1 else plural}"


# ---------------------------------------------------------------------- passes a method can need
# Each pass describes itself for the methods page (`describe`: what it runs per image, besides
# the forward pass every method shares; "" for nothing more), so no code switches over them.


@dataclass(frozen=True)
class Activations:
    """The value of one named tensor (see `layers.TensorGraph`) in the plain forward pass."""

    tensor: str

    def describe(self) -> str:
        return ""  # read during the shared forward pass


@dataclass(frozen=True)
class HeadGradients:
    """Gradients of the explained classes' logits w.r.t. one named tensor: (N, K, h, w, c)."""

    tensor: str

    def describe(self) -> str:
        return f"backward from the class logits to {self.tensor}"


@dataclass(frozen=True)
class InputGradients:
    """Gradients of the first `classes` explained logits w.r.t. inputs made from the image,
    under a backward rule: a `Sampled` record."""

    rule: Rule
    classes: int
    inputs: InputMaker = Same()

    def describe(self) -> str:
        rule = "" if self.rule == "plain" else f", {self.rule} rule"
        classes = counted(self.classes, "class", "classes")
        if isinstance(self.inputs, Same):
            return f"backward to the pixels for {classes}{rule}"
        return f"forward and backward of {self.inputs.describe()}, for {classes}{rule}"


@dataclass(frozen=True)
class Logits:
    """All-class logits of inputs made from the image, forward only: a `Sampled` record
    without gradients. One set of passes serves every class."""

    inputs: InputMaker

    def describe(self) -> str:
        return f"forward of {self.inputs.describe()}, once for every class"


# What a method may need: the explainer runs each distinct one once per batch.
Need = Activations | HeadGradients | InputGradients | Logits


@dataclass(frozen=True)
class Sampled:
    """Inputs made from each image, their logits and (for `InputGradients`) gradients."""

    inputs: tf.Tensor  # (N, S, H, W, 3)
    logits: tf.Tensor  # (N, S, C)
    gradients: tf.Tensor | None = None  # (N, S, K, H, W, 3)


@dataclass(frozen=True)
class Context:
    """What a method's needs depend on: the model's chosen tensors and how many classes."""

    target: str  # the tensor Grad-CAM reads (`layers.gradcam_target`)
    stages: tuple[str, ...]  # one tensor per resolution stage (`layers.stage_outputs`)
    classes: int  # how many of the explained classes this method explains


@dataclass(frozen=True)
class Passes:
    """What the explainer computed for one batch: the plain pass and every needed pass."""

    images: tf.Tensor  # (N, H, W, 3) model inputs
    logits: tf.Tensor  # (N, C)
    classes: tf.Tensor  # (N, K) explained classes, by logit order when chosen as top-K
    references: References
    # Activations, HeadGradients: a tensor; InputGradients, Logits: a `Sampled` record.
    results: Mapping[Need, Any] = field(default_factory=dict)

    def __getitem__(self, need: Need) -> Any:
        return self.results[need]


@dataclass(frozen=True)
class Attribution:
    """A method's maps for N images and K classes, and per-map notes.

    Notes are numbers a method reports about each map, each an (N, K) tensor named by the
    method: "has_evidence" (the class maps: false where the map is blank, no position with
    positive evidence; `Method.note_text` says so under the picture), Integrated Gradients'
    "completeness_error" and "logit_change". The build hands each map's values to the method's
    `note_text`, which turns them into words for the map's caption; a note that `note_text`
    does not mention is not shown.
    """

    maps: tf.Tensor
    notes: Mapping[str, tf.Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class Method:
    """One explanation method. Subclasses set the class variables, add their options as
    dataclass fields with defaults, and implement `needs` and `compute`."""

    slug: ClassVar[str]  # stable: it names the method's files and anchors
    title: ClassVar[str]
    paper: ClassVar[Paper]
    kind: ClassVar[Kind]
    display: ClassVar[Display]
    family: ClassVar[Family]  # the methods model pages show it beside, in one grid
    # Methods that need many passes per image explain the top-1 class unless asked for more.
    many_passes: ClassVar[bool] = False
    # False for a method whose map does not depend on the class by construction (Eigen-CAM):
    # it computes one map, for the top-1 class, and pages say that it serves every class.
    class_specific: ClassVar[bool] = True
    # True where the map is read at Grad-CAM's target tensor (captions name that layer).
    at_target: ClassVar[bool] = False

    def classes_explained(self, top: int, many_pass_top: int) -> int:
        """How many of the `top` classes it explains (`many_pass_top` if it needs many
        passes; one if its map is the same for every class)."""
        if not self.class_specific:
            return 1
        return min(top, many_pass_top) if self.many_passes else top

    def needs(self, context: Context) -> tuple[Need, ...]:
        raise NotImplementedError

    def compute(self, passes: Passes, context: Context) -> Attribution:
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """The method's options and their values, e.g. {"steps": 32}, for captions and cache keys."""
        return dataclasses.asdict(self)

    def options_text(self) -> str:
        """The options as captions state them, e.g. "steps 32"; empty for none."""
        return ", ".join(
            f"{name.replace('_', ' ')} {value}" for name, value in self.options().items()
        )

    def note_text(self, notes: Mapping[str, float]) -> str:
        """What a caption says of one map's notes (plain text). By default it speaks only of
        "has_evidence", the note the class-map methods return: a blank map says why."""
        if notes.get("has_evidence", 1.0) == 0:
            return "no positive evidence for this class at this layer: the map is blank"
        return ""
