"""Losses of DKD training, per example (so a distribution strategy can scale them right).

Shapes: heatmaps / targets [B, (T,) m, n, K]; weights [B, (T,) K] (1 visible, 0 not).
"""
from __future__ import annotations

from .errors import import_tensorflow

import_tensorflow()  # quiet TF start-up before keras imports it
from keras import ops  # noqa: E402


def heatmap_mse(pred, target, weight, foreground_weight: float = 0.0):
    """Visibility-weighted heatmap MSE per example [B].

    Each pixel's squared error is weighted by (1 + foreground_weight * target): a measured
    departure (docs/design.md §1) that keeps a small network off the all-zero plateau, where plain
    MSE sits because 99% of the pixels are background. Joints with weight 0 do not count.
    """
    w = weight[..., None, None, :] * (1.0 + foreground_weight * target)
    err = w * ops.square(pred - target)
    axes = tuple(range(1, len(pred.shape)))
    return ops.mean(err, axis=axes)


def reconstruction_error(reconstruction, change):
    """BEGAN's auto-encoder loss L(x) = mean |D(x) - d| per example [B]."""
    axes = tuple(range(1, len(change.shape)))
    return ops.mean(ops.abs(reconstruction - change), axis=axes)


def began_k_update(k, err_real, err_fake, gamma: float, k_lr: float):
    """k <- clip(k + k_lr * (gamma * L(real) - L(fake)), 0, 1): BEGAN's balance, the lambda of
    L_D = L(real) - k L(fake). err_real, err_fake: batch means. Returns (new k, balance
    gamma * L(real) - L(fake), convergence measure L(real) + |balance|)."""
    balance = gamma * err_real - err_fake
    new_k = ops.clip(k + k_lr * balance, 0.0, 1.0)
    return new_k, balance, err_real + ops.abs(balance)
