"""Input attributions: what each pixel contributes, from gradients w.r.t. the input."""
