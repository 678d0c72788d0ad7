"""Pure computations: a Keras model and numpy arrays in, numpy arrays out.

Nothing in this package writes files, plots, or knows about Markdown.
"""

# Which tensors the explanations read and how the nonlinearity report is worded. Part of every
# cached page's key: change it whenever a choice or the report changes, so that pages computed
# under the old choice are recomputed, not reused.
SELECTION_VERSION = "tensor-graph-3"
