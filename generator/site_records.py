"""The typed records the build hands to the pages: what one model's page and the site show.

The build fills them (in a model's child process, or from the cache's JSON) and `pages.py`
lays them out; nothing here computes or knows Markdown. Every record is a frozen dataclass with
named fields, so no module has to remember what the third element of a tuple meant.
`from_json` reads back what `dataclasses.asdict` wrote into the cache (`plan`'s cached parts).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from generator.methods.paper import Paper
from generator.own_models import OWN_PREFIX


@dataclass(frozen=True)
class SiteInfo:
    """Facts shown on every page: what built the site and with which weights."""

    title: str
    version: str
    weights_mode: str  # "imagenet" | "random" | "folder"
    weights_label: str  # human text, e.g. "ImageNet (Keras)"
    keras_version: str
    tensorflow_version: str
    reference_machine: str  # where the build times shown were measured (reference_times)
    reference_images: int  # how many images those times cover
    reference_applies: bool  # the reference was measured with this build's configuration
    reference_measured_with: str  # that configuration in words, said when it does not apply
    methods: tuple[str, ...]  # titles of the explanation methods this build shows, page order

    @property
    def weights_random(self) -> bool:
        return self.weights_mode == "random"


@dataclass(frozen=True)
class Figure:
    """One image file; `path` is POSIX and relative to the site root (`site_src/`).

    `scale` says how to read its colours; pages show it in the lightbox's caption, and leave it
    out under the small tiles of a grid, where the grid's legend says it once. `width` and
    `height` are the file's pixel size, filled in by `write_site` from the written file (never
    cached), so every <img> reserves its space before it loads.
    """

    path: str
    caption: str
    alt: str
    scale: str = ""
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class Thumbnail:
    """A sample image as the home and comparison pages link it."""

    slug: str
    title: str  # from a file name: untrusted
    figure: Figure


@dataclass(frozen=True)
class ModelSummary:
    """One row of the home-page table.

    `top1`/`top5` are published ImageNet accuracies in percent and `params` the parameter count
    in millions (as in `model_facts.py`); `None` is shown as "unknown".
    """

    name: str
    slug: str
    family: str | None
    year: int | None
    params: float | None
    input_size: tuple[int, int] | None
    top1: float | None
    top5: float | None
    target_layer: str | None
    status: str  # "built" | "failed" | "earlier": failed now, the page of an earlier build kept
    failure: str | None
    reference_seconds: float | None  # build time on the reference machine (reference_times)

    @property
    def own(self) -> bool:
        """A user's own model (`--model-file`), in a section of its own apart from the zoo."""
        return self.slug.startswith(OWN_PREFIX)

    @classmethod
    def from_json(cls, data: dict) -> ModelSummary:
        size = data["input_size"]
        return cls(**{**data, "input_size": tuple(size) if size is not None else None})


@dataclass(frozen=True)
class Prediction:
    """One row of an image's predictions table; `probability` is in 0..1."""

    rank: int
    class_index: int
    label: str
    probability: float

    @classmethod
    def from_json(cls, data: dict) -> Prediction:
        return cls(**data)


@dataclass(frozen=True)
class ShownMethod:
    """An explanation method as pages know it: by its slug (its identity: ids, file names,
    cache records), shown by its title, grouped by its family's slug."""

    slug: str
    title: str
    family: str
    class_specific: bool = True  # False: one map, the same for every class

    @classmethod
    def from_json(cls, data: dict) -> ShownMethod:
        return cls(**data)


@dataclass(frozen=True)
class LayerFigure:
    """One stage layer's panel of a map drawn at every stage ("heatmaps by layer"), as its own
    picture: the model page shows one readable tile per stage."""

    layer: str
    figure: Figure

    @classmethod
    def from_json(cls, data: dict) -> LayerFigure:
        return cls(data["layer"], Figure(**data["figure"]))


@dataclass(frozen=True)
class MethodTile:
    """One explanation method's picture of one class; a map drawn at every stage layer also
    has one picture per layer (`layers`, fine to coarse), which the model page shows instead."""

    method: ShownMethod
    figure: Figure
    layers: list[LayerFigure] = field(default_factory=list)

    def figures(self) -> list[Figure]:
        """Its files: the picture, and the one of each layer."""
        return [self.figure, *(layer.figure for layer in self.layers)]

    @classmethod
    def from_json(cls, data: dict) -> MethodTile:
        layers = [LayerFigure.from_json(layer) for layer in data.get("layers", [])]
        return cls(ShownMethod.from_json(data["method"]), Figure(**data["figure"]), layers)


@dataclass(frozen=True)
class ClassExplanation:
    """One explained class of one image: its prediction and one picture per method.

    `figures` follow the catalog's order of the methods the build computed (`--methods`);
    a method that explains fewer classes has no figure for the classes after its last.
    """

    prediction: Prediction
    figures: list[MethodTile]

    @classmethod
    def from_json(cls, data: dict) -> ClassExplanation:
        tiles = [MethodTile.from_json(tile) for tile in data["figures"]]
        return cls(Prediction.from_json(data["prediction"]), tiles)


@dataclass(frozen=True)
class FeatureMapFigure:
    """The strongest channels of one stage layer for one image."""

    layer: str
    shape: tuple[int, ...]  # the activation's (height, width, channels)
    figure: Figure
    channels: tuple[int, ...] = ()  # the channels drawn, in the figure's order ("ch N" labels)

    @classmethod
    def from_json(cls, data: dict) -> FeatureMapFigure:
        channels = tuple(data.get("channels", ()))
        return cls(data["layer"], tuple(data["shape"]), Figure(**data["figure"]), channels)


@dataclass(frozen=True)
class ProjectionFigure:
    """One stage layer's strongest units projected to pixels, for one image."""

    layer: str
    figure: Figure
    channels: tuple[int, ...] = ()  # the channels projected, in the figure's order

    @classmethod
    def from_json(cls, data: dict) -> ProjectionFigure:
        return cls(data["layer"], Figure(**data["figure"]), tuple(data.get("channels", ())))


@dataclass(frozen=True)
class FilterFigure:
    """One layer's learned kernels, with the note that says how they are laid out."""

    layer: str
    note: str
    figure: Figure

    @classmethod
    def from_json(cls, data: dict) -> FilterFigure:
        return cls(data["layer"], data["note"], Figure(**data["figure"]))


@dataclass(frozen=True)
class FamilySheet:
    """One method family's explanations of one photo on an A4 sheet for print and slides."""

    family: str  # the family's slug
    figure: Figure

    @classmethod
    def from_json(cls, data: dict) -> FamilySheet:
        return cls(data["family"], Figure(**data["figure"]))


@dataclass(frozen=True)
class ImageSection:
    """Everything a model page shows for one sample image (one content tab)."""

    slug: str
    title: str  # from a file name: untrusted
    crop: Figure
    predictions: list[Prediction]
    explanations: Figure | None
    gradcam_legend: Figure | None  # the colour scales of the explanation methods shown
    feature_maps: list[FeatureMapFigure]
    projections: list[ProjectionFigure]
    classes: list[ClassExplanation] = field(default_factory=list)  # one per explained class
    sheets: list[FamilySheet] = field(default_factory=list)  # A4 print sheets, one per family

    def figures(self) -> list[Figure]:
        """Every file the section names, for the manifest and the cache's completeness check."""
        figures = [self.crop, self.explanations, *(sheet.figure for sheet in self.sheets)]
        figures += [shown.figure for shown in self.feature_maps]
        figures += [shown.figure for shown in self.projections]
        figures += [
            f for explained in self.classes for tile in explained.figures for f in tile.figures()
        ]
        return [figure for figure in figures if figure is not None]

    @classmethod
    def from_json(cls, data: dict) -> ImageSection:
        def figure(value: dict | None) -> Figure | None:
            return Figure(**value) if value is not None else None

        return cls(
            slug=data["slug"],
            title=data["title"],
            crop=Figure(**data["crop"]),
            predictions=[Prediction.from_json(p) for p in data["predictions"]],
            explanations=figure(data["explanations"]),
            gradcam_legend=figure(data["gradcam_legend"]),
            feature_maps=[FeatureMapFigure.from_json(f) for f in data["feature_maps"]],
            projections=[ProjectionFigure.from_json(p) for p in data["projections"]],
            classes=[ClassExplanation.from_json(c) for c in data["classes"]],
            sheets=[FamilySheet.from_json(sheet) for sheet in data.get("sheets", [])],
        )


@dataclass(frozen=True)
class OwnModelFacts:
    """What a user's own model's page says of it beyond the zoo's model card."""

    file: str  # the file's name
    sha256: str  # of the file: the page says exactly which file it shows
    classes: int | None  # class scores the model gives; None: not a classifier the gallery reads
    class_names_file: str | None  # None: the pages show class indices
    preprocessing: str  # in words
    softmax_bypassed: bool  # it ends in a softmax, read before it; else its output is logits


@dataclass(frozen=True)
class ChosenTensor:
    """A tensor of the model's graph a page shows (Grad-CAM's target, a stage's output), and why.

    `name` is a layer's name or, for an operation that is not a layer, e.g. "add_17".
    """

    name: str
    shape: tuple[int, ...]  # (height, width, channels)
    reason: str  # plain text

    @classmethod
    def from_json(cls, data: dict) -> ChosenTensor:
        return cls(data["name"], tuple(data["shape"]), data["reason"])


@dataclass(frozen=True)
class ChannelView:
    """One channel of a stage tensor on its channel page (anchor `page_ids.channel_anchor`)."""

    channel: int
    picture: Figure | None  # its optimised image; None: beyond `--neuron-channels` (`missing`)
    score: float | None  # the objective its picture reached: the channel's mean activation
    card: Figure  # its activation on every photo side by side, the photo patches that excite
    # it most and its strongest Zeiler & Fergus projection crop
    means: list[float]  # its mean activation on each photo, in `NeuronSection.photos` order
    shown_in: list[str]  # the photos (slugs) whose feature maps or projections show it

    @classmethod
    def from_json(cls, data: dict) -> ChannelView:
        picture = Figure(**data["picture"]) if data["picture"] else None
        return cls(**{**data, "picture": picture, "card": Figure(**data["card"])})


@dataclass(frozen=True)
class StageNeurons:
    """What the channels of one stage tensor look for: a grid on the model page, a channel
    page `page_ids.channel_page(model slug, slug)` with an anchor per channel."""

    tensor: str  # the stage tensor's name (as in `ModelPage.stages`)
    slug: str  # its slug, in file names and the channel page's address
    shape: tuple[int, ...]  # (height, width, channels)
    grid: Figure | None  # the optimised images of its channels, labelled "ch N"
    channels: list[ChannelView]  # every channel the model page shows, ascending

    @classmethod
    def from_json(cls, data: dict) -> StageNeurons:
        grid = Figure(**data["grid"]) if data["grid"] else None
        views = [ChannelView.from_json(c) for c in data["channels"]]
        return cls(data["tensor"], data["slug"], tuple(data["shape"]), grid, views)


@dataclass(frozen=True)
class ClassPicture:
    """The input that maximises one class's logit (Simonyan et al. 2014)."""

    class_index: int
    label: str
    figure: Figure
    logit_rank: int  # the class's rank among the model's logits on the picture (1: it wins)

    @classmethod
    def from_json(cls, data: dict) -> ClassPicture:
        return cls(**{**data, "figure": Figure(**data["figure"])})


@dataclass(frozen=True)
class NeuronSection:
    """A model page's "What the neurons look for" section and its channel pages."""

    settings: str  # the optimisation's settings in words (steps, size, parameterisation, ...)
    missing: str  # why some shown channels have no picture ("" when every one has)
    photos: list[str]  # the photos' slugs, in the order of `ChannelView.means`
    photo_titles: list[str]  # their titles (from file names: untrusted)
    stages: list[StageNeurons]
    classes: list[ClassPicture]  # each photo's top-1 class and the classes asked for
    top_class: dict[str, int]  # photo slug -> its top-1 class (an index into `classes`)
    dream: Figure | None  # DeepDream of the first photo at a middle stage tensor
    inversion: Figure | None  # the first photo inverted from an early and a late stage tensor
    not_drawn: list[str] = field(default_factory=list)  # what is missing, and why
    seconds: float = 0.0

    def figures(self) -> list[Figure]:
        """Every picture of the section and its channel pages."""
        made = [c.figure for c in self.classes]
        made += [f for f in (self.dream, self.inversion) if f is not None]
        for stage in self.stages:
            made += [stage.grid] if stage.grid is not None else []
            made += [view.card for view in stage.channels]
            made += [view.picture for view in stage.channels if view.picture is not None]
        return made

    @classmethod
    def from_json(cls, data: dict | None) -> NeuronSection | None:
        if data is None:
            return None

        def figure(value: dict | None) -> Figure | None:
            return Figure(**value) if value else None

        names = {field.name for field in fields(cls)}  # a cache entry adds its files' hashes
        return cls(
            **{
                **{name: value for name, value in data.items() if name in names},
                "stages": [StageNeurons.from_json(s) for s in data["stages"]],
                "classes": [ClassPicture.from_json(c) for c in data["classes"]],
                "dream": figure(data["dream"]),
                "inversion": figure(data["inversion"]),
            }
        )


@dataclass(frozen=True)
class ModelPage:
    """The context of `models/<slug>.md`."""

    summary: ModelSummary
    paper: str | None
    paper_url: str | None
    preprocessing: str | None
    weights_random: bool
    weights_label: str
    nonlinearity_report: list[str]
    target: ChosenTensor | None  # Grad-CAM's tensor
    stages: list[ChosenTensor]  # one output per resolution stage
    filters: list[FilterFigure]
    images: list[ImageSection]
    # One line per method this build left out for memory ("Score-CAM: needs about ...").
    left_out: list[str] = field(default_factory=list)
    trust: ModelTrust | None = None  # None when the build did not evaluate the methods
    own: OwnModelFacts | None = None  # a user's own model (`--model-file`)
    # Sections an own model cannot have, each line naming them and why ("Predictions, ...: it
    # has 2 inputs; ..."); the page shows the rest.
    not_drawn: list[str] = field(default_factory=list)
    neurons: NeuronSection | None = None  # None when the build skipped it (`--no-neurons`)

    @classmethod
    def from_json(cls, data: dict) -> ModelPage:
        def chosen(value: dict | None) -> ChosenTensor | None:
            return ChosenTensor.from_json(value) if value is not None else None

        return cls(
            **{
                **data,
                "summary": ModelSummary.from_json(data["summary"]),
                "target": chosen(data["target"]),
                "stages": [ChosenTensor.from_json(s) for s in data["stages"]],
                "filters": [FilterFigure.from_json(f) for f in data["filters"]],
                "images": [ImageSection.from_json(i) for i in data["images"]],
                "trust": ModelTrust.from_json(data.get("trust")),
                "own": OwnModelFacts(**data["own"]) if data.get("own") else None,
                "neurons": NeuronSection.from_json(data.get("neurons")),
            }
        )


@dataclass
class BuiltModels:
    """The pages the site is written from."""

    summaries: list[ModelSummary] = field(default_factory=list)  # every model, failed or not
    pages: list[ModelPage] = field(default_factory=list)  # the models built now
    earlier: list[ModelPage] = field(default_factory=list)  # failed models' kept pages


@dataclass(frozen=True)
class OptionRecord:
    name: str
    value: str


@dataclass(frozen=True)
class MethodRecord:
    """One method as the methods page shows it."""

    slug: str  # its anchor on the methods page and in file names
    title: str
    paper: Paper
    citation: str  # short: "Selvaraju et al. (2017), ICCV"
    kind: str  # "class map" | "input attribution"
    display: str  # a `methods.display.Display`
    family: str  # the slug of its family (`methods/families.py`): its group on every page
    options: tuple[OptionRecord, ...]
    many_passes: bool
    class_specific: bool  # False: its map does not depend on the class, one map serves all
    classes: int  # how many of the top classes it explains by default
    passes: str  # what it runs per image, besides the shared forward pass
    paragraph: str  # its template, e.g. "methods/grad-cam.md.j2"


# --- how far to trust each method (`trust_summary` sums the cached parts up) --------------------


@dataclass(frozen=True)
class Similarity:
    """Two maps compared: Spearman rank correlation of their absolute values, and SSIM."""

    spearman: float
    ssim: float

    @classmethod
    def from_json(cls, data: dict) -> Similarity:
        return cls(**data)


@dataclass(frozen=True)
class Scores:
    """One map's deletion and insertion curves on one photo: the class probability after each
    step, and the areas under them. Cached per photo and method (and per baseline)."""

    deletion: list[float]
    insertion: list[float]
    deletion_auc: float
    insertion_auc: float

    @classmethod
    def from_json(cls, data: dict) -> Scores:
        return cls(data["deletion"], data["insertion"], data["deletion_auc"], data["insertion_auc"])


@dataclass(frozen=True)
class RandomizationPart:
    """One method's maps of the stated photo's top class as the weights are re-initialised
    from the top down: its similarity to the trained model's map after each step, and the strip
    of maps (trained first). Cached per model and method."""

    steps: list[str]  # the cascade's steps, top down ("head", ..., "all layers")
    similarities: list[Similarity]  # one per cascade step
    strip: Figure
    seconds: float

    @classmethod
    def from_json(cls, data: dict) -> RandomizationPart:
        return cls(
            list(data["steps"]),
            [Similarity.from_json(s) for s in data["similarities"]],
            Figure(**data["strip"]),
            data["seconds"],
        )


@dataclass(frozen=True)
class Spread:
    """A mean over photos (or classes), its standard deviation and how many values it has."""

    mean: float
    sd: float
    count: int

    @classmethod
    def from_json(cls, data: dict | None) -> Spread | None:
        return None if data is None else cls(**data)


@dataclass(frozen=True)
class TrustRow:
    """One method's row of a model page's trust tables (or a baseline's: no method)."""

    slug: str
    title: str
    method: ShownMethod | None  # None for a baseline map
    randomized: list[Similarity]  # after each cascade step; empty when not measured
    class_similarity: Spread | None  # Spearman, top class against each next class
    deletion: Spread | None  # AUC over photos: lower is better
    insertion: Spread | None  # AUC over photos: higher is better
    strip: Figure | None
    # check ("randomization", "class-sensitivity", "faithfulness") -> the plain sentence for a
    # student that flags the method on this model; empty when no check flags it
    marks: dict[str, str]

    @property
    def fully_randomized(self) -> Similarity | None:
        return self.randomized[-1] if self.randomized else None

    @classmethod
    def from_json(cls, data: dict) -> TrustRow:
        method = data["method"]
        return cls(
            slug=data["slug"],
            title=data["title"],
            method=None if method is None else ShownMethod.from_json(method),
            randomized=[Similarity.from_json(s) for s in data["randomized"]],
            class_similarity=Spread.from_json(data["class_similarity"]),
            deletion=Spread.from_json(data["deletion"]),
            insertion=Spread.from_json(data["insertion"]),
            strip=None if data["strip"] is None else Figure(**data["strip"]),
            marks=dict(data["marks"]),
        )


@dataclass(frozen=True)
class TrustSettings:
    """What the checks were run with, stated on the page."""

    photo: str  # the photo of the randomization strips and the curves plot (its title)
    photos: int  # photos scored by deletion and insertion
    steps: int  # deletion and insertion steps
    cascade: list[str]  # the randomization steps, in order ("head", ...)
    reference: str  # what deleted pixels become
    blur: str  # what insertion reveals pixels over


@dataclass(frozen=True)
class ModelTrust:
    """The trust section of one model page."""

    settings: TrustSettings
    rows: list[TrustRow]  # the methods, in the page's order
    baselines: list[TrustRow]  # the random and centred Gaussian maps (deletion and insertion)
    similarity_plot: Figure | None
    curves_plot: Figure | None
    notes: list[str] = field(default_factory=list)  # what could not be measured, and why

    @classmethod
    def from_json(cls, data: dict | None) -> ModelTrust | None:
        if data is None:
            return None

        def figure(value: dict | None) -> Figure | None:
            return None if value is None else Figure(**value)

        return cls(
            settings=TrustSettings(**data["settings"]),
            rows=[TrustRow.from_json(row) for row in data["rows"]],
            baselines=[TrustRow.from_json(row) for row in data["baselines"]],
            similarity_plot=figure(data["similarity_plot"]),
            curves_plot=figure(data["curves_plot"]),
            notes=list(data["notes"]),
        )


@dataclass(frozen=True)
class Measure:
    """One measure of the leaderboard, as its table heads and its explanation name it."""

    slug: str
    title: str
    better: str  # "lower" or "higher"
    meaning: str  # what the number says, in one sentence


@dataclass(frozen=True)
class LeaderCell:
    """One method's number for one model in a leaderboard table (None: not measured)."""

    value: float | None
    marked: bool  # a mark of the model page flags this measure of this method


@dataclass(frozen=True)
class LeaderRow:
    """One model's row of a measure's table: a cell per column (methods, then baselines)."""

    model: str
    model_slug: str
    cells: list[LeaderCell]


@dataclass(frozen=True)
class LeaderTable:
    """One measure's table of the leaderboard: a row per model, a column per method."""

    measure: Measure
    columns: list[tuple[str, str]]  # (slug, title): the methods, then the baselines it has
    rows: list[LeaderRow]


@dataclass(frozen=True)
class MethodFindings:
    """What the checks found for one method across the models built (the methods page)."""

    slug: str
    models: int  # models that measured it
    medians: dict[str, float | None]  # measure slug -> median over those models
    marked: dict[str, int]  # measure slug -> on how many models it was flagged
