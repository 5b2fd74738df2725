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
