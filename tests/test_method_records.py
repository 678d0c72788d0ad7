"""The methods page's records say what each method runs, from its own declarations."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from generator.method_records import describe_needs, method_record, short_citation
from generator.methods import catalog
from generator.methods.base import (
    Activations,
    Attribution,
    Context,
    HeadGradients,
    InputGradients,
    Logits,
    Method,
    Need,
    Noise,
    Paper,
    Passes,
    Same,
    StraightPath,
)
from generator.methods.explain import Explainer
from generator.methods.families import CLASS_MAPS, FAMILIES
from generator.page_ids import ClassBlock, MethodFigure, family_grids, method_order
from generator.site_records import Figure, LayerFigure, Prediction, ShownMethod


def test_short_citations_name_one_two_or_the_first_of_many_authors():
    assert short_citation("K. Simonyan", 2014, "ICLR") == "Simonyan (2014), ICLR"
    assert short_citation("M. D. Zeiler, R. Fergus", 2014, "ECCV") == "Zeiler & Fergus (2014), ECCV"
    many = "R. R. Selvaraju, M. Cogswell, A. Das"
    assert short_citation(many, 2017, "ICCV") == "Selvaraju et al. (2017), ICCV"


def test_passes_are_described_from_the_needs_with_their_counts_and_rules():
    target = "the target layer"
    assert describe_needs([Activations(target), HeadGradients(target)]) == (
        "backward from the class logits to the target layer"
    )
    assert describe_needs([InputGradients("guided", 5, Same())]) == (
        "backward to the pixels for 5 classes, guided rule"
    )
    path = describe_needs([InputGradients("plain", 1, StraightPath(32))])
    assert path.startswith("forward and backward of 33 points") and path.endswith("for 1 class")
    assert "16 noisy copies" in describe_needs([InputGradients("plain", 1, Noise(0.1, 16))])
    assert (
        describe_needs([Logits(Noise(0.1, 1))]) == "forward of 1 noisy copy, once for every class"
    )


def test_many_pass_methods_explain_the_top_1_and_options_follow_the_method():
    for method in catalog.METHODS:
        record = method_record(method, top=5)
        assert record.classes == (1 if method.many_passes else 5)
        assert record.paragraph == f"methods/{method.slug}.md.j2"
        assert [option.name for option in record.options] == list(method.options())
    steps = next(m for m in catalog.METHODS if "steps" in m.options())
    record = method_record(dataclasses.replace(steps, steps=8), top=5)
    assert ("steps", "8") in [(option.name, option.value) for option in record.options]
    assert "9 points" in record.passes


@dataclasses.dataclass(frozen=True)
class Brightness:
    """A toy input maker of the test: `levels` darker copies of the image."""

    levels: int

    def count(self, height: int, width: int) -> int:
        return self.levels

    def make(self, images, references, activations):
        return images[:, None] * tf.reshape(tf.linspace(0.0, 1.0, self.levels), (1, -1, 1, 1, 1))

    def describe(self) -> str:
        return f"{self.levels} darker copies"


@dataclasses.dataclass(frozen=True)
class MeanChannel(Method):
    """A toy class-independent map (as Eigen-CAM's): the target tensor's mean over channels."""

    slug = "mean-channel"
    title = "Mean channel"
    paper = Paper("A. Tester", 2026, "Toy", "Tests", "https://example.org")
    kind = "class map"
    display = "heatmap"
    family = CLASS_MAPS
    class_specific = False

    def needs(self, context: Context) -> tuple[Need, ...]:
        return (Activations(context.target), Logits(Brightness(3)))

    def compute(self, passes: Passes, context: Context) -> Attribution:
        mean = tf.reduce_mean(passes[Activations(context.target)], axis=-1)  # (N, h, w)
        return Attribution(tf.repeat(mean[:, None], context.classes, axis=1))


def test_a_new_input_maker_describes_itself_and_a_class_independent_method_explains_one_class():
    record = method_record(MeanChannel(), top=5, many_pass_top=3)
    assert record.passes == "forward of 3 darker copies, once for every class"
    assert (record.classes, record.class_specific) == (1, False)
    assert MeanChannel().classes_explained(top=5, many_pass_top=3) == 1


def test_the_explainer_computes_a_class_independent_map_for_one_class_only(tmp_path):
    inputs = keras.Input((32, 32, 3))
    features = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="features")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    model = keras.Model(inputs, keras.layers.Dense(7)(pooled))
    explainer = Explainer(model, methods=[MeanChannel(), catalog.by_slug("grad-cam")])
    images = np.random.default_rng(0).uniform(-1, 1, (1, 32, 32, 3)).astype("float32")

    result = explainer.explain(images, top=3)

    assert result.methods["mean-channel"].maps.shape[:2] == (1, 1)  # one map, for class 1 only
    assert result.methods["grad-cam"].maps.shape[:2] == (1, 3)


def test_a_class_independent_method_shows_its_one_map_once_saying_it_serves_every_class():
    figure = Figure("assets/x.webp", "caption", "alt")
    shown = ShownMethod("mean-channel", "Mean channel", "class-maps", class_specific=False)
    classes = [
        ClassBlock(Prediction(rank, rank, f"class {rank}", 0.1), f"x--c{rank}", figures)
        for rank, figures in [(1, [MethodFigure(shown, "x--c1--mean-channel", figure)]), (2, [])]
    ]
    (grid,) = family_grids("x", classes, {})
    (part,) = grid.parts  # its one picture in a strip of its own: no empty cell for class 2
    assert [row.prediction.rank for row in part.rows] == [1]
    assert part.rows[0].cells == classes[0].figures
    assert part.note == "One map for every class (Mean channel): it does not depend on the class."


def test_a_blank_class_map_says_why_under_its_picture():
    for slug in ("grad-cam", "grad-cam-plus-plus", "layer-cam", "score-cam"):
        method = catalog.by_slug(slug)
        assert "the map is blank" in method.note_text({"has_evidence": 0.0})
        assert method.note_text({"has_evidence": 1.0}) == ""
    ig = catalog.by_slug("integrated-gradients")
    assert "completeness error" in ig.note_text({"completeness_error": 0.1, "logit_change": 2.0})


def test_the_catalog_is_grouped_by_family_in_the_families_order():
    """The catalog's order is the one every page shows, so each family's methods are together,
    families in `FAMILIES`' order."""
    order = [family.slug for family in FAMILIES]
    families = [method.family.slug for method in catalog.METHODS]
    assert families == sorted(families, key=order.index)
    assert set(families) == set(order)


def test_pages_show_methods_by_family_then_catalog_whatever_order_they_come_in():
    shown = [ShownMethod(m.slug, m.title, m.family.slug, m.class_specific) for m in catalog.METHODS]
    assert method_order(reversed(shown)) == shown
    assert method_order([*shown, *shown]) == shown
    unknown = ShownMethod("new-method", "A method of a newer release", "no-such-family")
    assert method_order([unknown, *reversed(shown)]) == [*shown, unknown]


def test_family_grids_have_no_empty_cell_and_a_row_of_stage_pictures_per_class():
    """Methods that explain fewer classes get a part of their own, maps drawn at every stage
    layer a row of stage pictures per class; each class's id goes to its first row only."""
    figure = Figure("assets/x.webp", "caption", "alt")
    grad_cam = ShownMethod("grad-cam", "Grad-CAM", "class-maps")
    score_cam = ShownMethod("score-cam", "Score-CAM", "class-maps")
    layer_cam = ShownMethod("layer-cam", "LayerCAM", "class-maps")
    stages = [LayerFigure(name, figure) for name in ("block_1", "out_relu")]
    classes = [
        ClassBlock(
            Prediction(rank, rank, f"class {rank}", 0.1),
            f"x--c{rank}",
            [
                MethodFigure(grad_cam, f"x--c{rank}--grad-cam", figure),
                MethodFigure(layer_cam, f"x--c{rank}--layer-cam", figure, stages),
                *([MethodFigure(score_cam, "x--c1--score-cam", figure)] if rank == 1 else []),
            ],
        )
        for rank in (1, 2)
    ]
    (grid,) = family_grids("x", classes, {})
    full, strip = grid.parts
    assert (full.columns, strip.columns) == ([grad_cam], [score_cam])
    assert [len(row.cells) for row in full.rows] == [1, 1]
    assert [len(row.cells) for row in strip.rows] == [1]  # class 1 only: no cell for class 2
    assert full.note == "" and strip.note.startswith("Top-1 class only (Score-CAM)")
    assert [row.anchor for row in full.rows] == ["x--c1", "x--c2"]
    assert [row.anchor for row in strip.rows] == [None]
    (layered,) = grid.layered
    assert layered.method == layer_cam and layered.note == ""
    assert [row.picture.anchor for row in layered.rows] == ["x--c1--layer-cam", "x--c2--layer-cam"]
    assert [row.anchor for row in layered.rows] == [None, None]
    assert all(row.picture.layers == stages for row in layered.rows)
