"""Shared test set-up: quiet TensorFlow and make paths importable."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
