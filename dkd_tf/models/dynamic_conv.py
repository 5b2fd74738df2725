"""Matching: the dynamic (runtime-kernel) correlation h_{t+1}^j = k_t^j (x) f_{t+1}.

Built only from PAD, STRIDED_SLICE, CONCATENATION, MUL, ADD, RESHAPE and a non-broadcasting
BATCH_MATMUL, which convert to TFLite builtins and run on XNNPACK and the GPU delegate
(DESIGN.md §3: a CONV_2D / DEPTHWISE_CONV_2D whose filter is a runtime tensor converts but
XNNPACK and OpenGL reject it; a broadcasting BATCH_MATMUL is wrong on the GPU path).
"""
from __future__ import annotations

import keras
from keras import layers, ops


class DynamicConv(layers.Layer):
    """Per-sample correlation with 'same' zero padding (cross-correlation, like Conv2D).

    full:      kernels [B, S, S, C, K], features [B, m, n, C] -> [B, m, n, K]
               h[b, y, x, j] = sum_{u, v, c} k[b, u, v, c, j] * f_pad[b, y + u, x + v, c]
               as im2col: S*S shifted slices concatenated to [B, m*n, S*S*C], one batched
               matmul with the kernels as [B, S*S*C, K].
    depthwise: kernels (k_dw [B, S, S, C], mix [B, C, K]): per-channel S x S correlation by
               S*S shifted slices times k_dw[:, u, v] (MUL/ADD), then [B, m*n, C] @ mix.
    The sum is divided by sqrt(S*S*C) so the output scale does not depend on the kernel size.
    """

    def __init__(self, kernel_size=5, matching="full", **kwargs):
        super().__init__(**kwargs)
        self.kernel_size, self.matching = int(kernel_size), matching

    def _shifted(self, features):
        S = self.kernel_size
        p = S // 2
        m, n = features.shape[1], features.shape[2]
        fp = ops.pad(features, [[0, 0], [p, p], [p, p], [0, 0]])
        return [fp[:, u:u + m, v:v + n, :] for u in range(S) for v in range(S)]

    def call(self, kernels, features):
        S = self.kernel_size
        m, n, C = features.shape[1], features.shape[2], features.shape[3]
        scale = 1.0 / float(S * S * C) ** 0.5
        if self.matching == "full":
            K = kernels.shape[-1]
            cols = ops.concatenate(self._shifted(features), axis=-1)  # [B, m, n, S*S*C]
            cols = ops.reshape(cols, (-1, m * n, S * S * C))
            w = ops.reshape(kernels, (-1, S * S * C, K)) * scale
            return ops.reshape(ops.matmul(cols, w), (-1, m, n, K))
        k_dw, mix = kernels
        K = mix.shape[-1]
        acc = None
        for i, sl in enumerate(self._shifted(features)):
            u, v = divmod(i, S)
            term = sl * k_dw[:, u:u + 1, v:v + 1, :]  # [B, m, n, C] * [B, 1, 1, C]
            acc = term if acc is None else acc + term
        y = ops.reshape(acc, (-1, m * n, C))
        return ops.reshape(ops.matmul(y, mix * scale), (-1, m, n, K))

    def flops(self, m: int, n: int, channels: int, joints: int) -> int:
        """Multiply-adds x 2 for one sample."""
        S = self.kernel_size
        if self.matching == "full":
            return 2 * m * n * S * S * channels * joints
        return 2 * m * n * channels * (S * S + joints)

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size,
                "matching": self.matching}
