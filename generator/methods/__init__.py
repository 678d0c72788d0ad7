"""Pure computations: a Keras model and numpy arrays in, numpy arrays out.

Nothing in this package writes files, plots, or knows about Markdown.
"""
