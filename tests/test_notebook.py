"""The classroom notebook (`notebooks/classroom.ipynb`) run headless, as a student runs it.

nbclient executes it from top to bottom in a Python kernel, with untrained weights and the build
written to a temporary folder (set after its "parameters" cell, as papermill does). Its outputs
must show the model page's pictures exactly as the build wrote them, with their captions, the
predictions of every sample photo, and the Python API's explanations of the sample photo it
explains in place of an upload. The executed copy is kept in `test-artifacts/classroom.ipynb`.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from PIL import Image
from sitekit import REPO

from generator.earlier import PAGES_DIR
from generator.site_records import Figure, ModelPage

NOTEBOOK = REPO / "notebooks" / "classroom.ipynb"
ARTIFACTS = REPO / "test-artifacts"


def with_parameters(notebook: nbformat.NotebookNode, **values: str) -> None:
    """Set `values` in a cell after the one tagged "parameters", as papermill does."""
    tagged = [i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "the notebook has one cell of parameters, tagged so"
    source = "\n".join(f"{name} = {value!r}" for name, value in values.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    cell.id = "injected-parameters"
    notebook.cells.insert(tagged[0] + 1, cell)


def pixels(picture: Image.Image) -> tuple[str, tuple[int, int], bytes]:
    return picture.mode, picture.size, picture.tobytes()


def shown_pictures(cell: nbformat.NotebookNode) -> list[Image.Image]:
    return [
        Image.open(io.BytesIO(base64.b64decode(output.data["image/png"])))
        for output in cell.outputs
        if "image/png" in output.get("data", {})
    ]


def alt_texts(cell: nbformat.NotebookNode) -> list[str]:
    """The description of each picture a cell shows, for screen readers."""
    return [
        output.metadata.get("image/png", {}).get("alt", "")
        for output in cell.outputs
        if "image/png" in output.get("data", {})
    ]


def text_of(cell: nbformat.NotebookNode) -> str:
    """Everything a cell printed or displayed as text or Markdown."""
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        data = output.get("data", {})
        parts += [data[kind] for kind in ("text/markdown", "text/plain") if kind in data]
    return "\n".join(parts)


def test_notebook_is_stored_without_outputs_for_the_venvs_kernel() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.id


def test_notebook_runs_and_shows_the_model_page(tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    out = tmp_path / "site"
    with_parameters(notebook, WEIGHTS="random", OUT=str(out))
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},  # where Jupyter would start it
    )
    try:
        client.execute()
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        nbformat.write(notebook, ARTIFACTS / "classroom.ipynb")
    cells = {cell.id: cell for cell in notebook.cells}

    # Run inside the repository, it uses this checkout as it is, and says which weights.
    assert f"Using the generator of this checkout, as it is: {REPO}" in text_of(cells["install"])
    assert "Weights: random, untrained" in text_of(cells["weights"])

    page = ModelPage.from_json(
        json.loads((out / PAGES_DIR / "mobilenetv3small.json").read_text(encoding="utf-8"))
    )
    assert page.weights_random
    assert sorted(image.slug for image in page.images) == [
        "astronaut",
        "cat",
        "cat-and-cup",
        "coffee-cup",
        "rocket",
    ]
    for image in page.images:  # every photo's most likely class, as the page gives it
        best = image.predictions[0]
        row = f"| {image.title} | {best.label} | {best.probability:.1%} |"
        assert row in text_of(cells["predictions"])
    cat = next(image for image in page.images if image.slug == "cat")
    assert len(cat.predictions) == 3
    for prediction in cat.predictions:
        assert f"| {prediction.label} | {prediction.probability:.1%} |" in text_of(
            cells["predictions"]
        )

    # The page's pictures, pixel for pixel as the build wrote them, each with its caption.
    assert page.trust is not None and page.trust.similarity_plot is not None
    expected: dict[str, list[Figure]] = {
        "predictions": [cat.crop],
        "filters": [page.filters[0].figure, page.filters[1].figure],
        "features": [cat.feature_maps[0].figure, cat.feature_maps[-1].figure],
        "explanations": [cat.explanations],
        "trust": [
            page.trust.similarity_plot,
            *(row.strip for row in page.trust.rows[:2] if row.strip),
        ],
    }
    assert len(expected["trust"]) == 3
    for cell_id, figures in expected.items():
        shown = [pixels(picture) for picture in shown_pictures(cells[cell_id])]
        assert shown == [pixels(Image.open(out / figure.path)) for figure in figures], cell_id
        assert alt_texts(cells[cell_id]) == [figure.alt for figure in figures]
        for figure in figures:
            assert figure.caption in text_of(cells[cell_id])

    # The Python API on the sample photo: the same untrained network (seeded) and crop as the
    # build's, so the same classes; a grid of four methods by three classes, one of Grad-CAM by
    # two classes.
    cup = next(image for image in page.images if image.slug == "cat-and-cup")
    assert "Explaining" in text_of(cells["upload"]) and "cat-and-cup.jpg" in text_of(
        cells["upload"]
    )
    api_text = text_of(cells["api"])
    for rank, prediction in enumerate(cup.predictions, 1):
        assert f"| {rank} | {prediction.label} |" in api_text
    (grid,) = shown_pictures(cells["api"])
    assert all(alt_texts(cells[cell_id]) for cell_id in ("api", "class"))
    assert grid.width > 4 * 200 and grid.height > 3 * 200
    (classes,) = shown_pictures(cells["class"])  # Grad-CAM of the top class and of CLASS
    assert 200 < classes.width < grid.width and 2 * 200 < classes.height < grid.height
