"""One-Euro filter (Casiez, Roussel and Vogel, CHI 2012) for keypoint smoothing (pure NumPy).

An adaptive low-pass filter: at low speed a low cutoff removes jitter, at high speed the
cutoff rises so the filtered value does not lag. For a sample x_t at time t (seconds),
with dt = t - t_prev and rate = 1 / dt:

    alpha(fc)  = 1 / (1 + 1 / (2 pi fc dt))               smoothing factor of a cutoff fc
    dx_t       = (x_t - x_prev_raw) * rate * value_scale  raw speed (units of value_scale)
    edx_t      = edx_prev + alpha(d_cutoff) (dx_t - edx_prev)
    fc_t       = min_cutoff + beta |edx_t|
    y_t        = y_prev + alpha(fc_t) (x_t - y_prev)

The first sample passes through unchanged (y = x, edx = 0). `value_scale` converts the
speed to a scale-free unit, as MediaPipe's landmark smoothing does (1 / object size: then
beta does not depend on how large the person is in pixels). Works element-wise on arrays of
any fixed shape, e.g. keypoints [K, 2]; non-finite inputs pass through and restart the state
of those elements.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np


def smoothing_factor(cutoff, dt: float):
    """alpha = 1 / (1 + tau / dt) with tau = 1 / (2 pi cutoff); cutoff in Hz, dt in s."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Element-wise One-Euro filter.

    min_cutoff: cutoff (Hz) at zero speed; lower = smoother when still, more lag.
    beta:       cutoff increase per unit speed (value units x value_scale per second);
                higher = less lag on fast motion.
    d_cutoff:   cutoff (Hz) of the speed estimate.
    rate:       samples per second used when __call__ gets no timestamp.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0,
                 rate: float = 30.0):
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0 or rate <= 0:
            raise ValueError(f"One-Euro needs min_cutoff > 0, d_cutoff > 0, beta >= 0, rate > 0 "
                             f"(got {min_cutoff}, {d_cutoff}, {beta}, {rate})")
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self.rate = float(rate)
        self.reset()

    def reset(self) -> None:
        self._x_raw: Optional[np.ndarray] = None   # last raw input
        self._y: Optional[np.ndarray] = None       # last output
        self._dx: Optional[np.ndarray] = None      # last filtered speed
        self._t: Optional[float] = None

    def __call__(self, x, t: Optional[float] = None, value_scale: float = 1.0) -> np.ndarray:
        """Filters one sample x (array) taken at time t (s; None = previous + 1 / rate)."""
        x = np.asarray(x, dtype=np.float64)
        if t is None:
            t = 0.0 if self._t is None else self._t + 1.0 / self.rate
        if self._y is None or self._y.shape != x.shape:
            return self._start(x, t)
        if t <= self._t:  # a repeated or backwards stamp: assume one nominal step
            t = self._t + 1.0 / self.rate
        dt = t - self._t
        fresh = ~np.isfinite(self._y) | ~np.isfinite(x)
        dx = (x - self._x_raw) * (value_scale / dt)
        edx = self._dx + smoothing_factor(self.d_cutoff, dt) * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(edx)
        y = self._y + smoothing_factor(cutoff, dt) * (x - self._y)
        self._y = np.where(fresh, x, y)
        self._dx = np.where(fresh, 0.0, edx)
        self._x_raw, self._t = x, float(t)
        return self._y.copy()

    def _start(self, x, t):
        self._x_raw, self._y, self._t = x, x.copy(), float(t)
        self._dx = np.zeros_like(x)
        return x.copy()
