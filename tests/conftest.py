"""Shared fixtures for the dkd_tf tests (kept small: NumPy only, no TensorFlow here)."""
from __future__ import annotations

import numpy as np
import pytest

from dkd_tf.errors import quiet_libraries

quiet_libraries()


@pytest.fixture
def rng() -> np.random.Generator:
    """A fixed-seed generator, so every random case is the same on every run."""
    return np.random.default_rng(1234)


# The small DKD used by tests/test_models.py and tests/test_training.py: 64 px input,
# 16 x 16 heatmaps, narrow networks (seconds to build and trace on a 2-core CPU).
TINY_MODEL = {"input_size": 64, "initializer_width": 0.25, "deconv_filters": 32,
              "encoder_width": 0.25, "feature_channels": 8, "kernel_size": 3,
              "distillator_filters": 16, "distillator_pools": 2}


@pytest.fixture(scope="session")
def tiny_model() -> dict:
    """ModelConfig fields of the tiny test DKD (shared: copy before changing it)."""
    return dict(TINY_MODEL)
