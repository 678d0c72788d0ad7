"""Class activation maps: a class's evidence read at one spatial tensor of the model."""
