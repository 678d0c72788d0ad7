"""What each neuron looks for: feature visualisation, class visualisation, DeepDream and
inversion, all by gradient ascent on a regularised input (see `channels`, `dream`)."""
