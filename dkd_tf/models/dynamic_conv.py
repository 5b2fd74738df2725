"""Matching: the dynamic (runtime-kernel) correlation h_{t+1}^j = k_t^j (x) f_{t+1}.

Built only from PAD, STRIDED_SLICE, CONCATENATION, MUL, ADD, RESHAPE and a non-broadcasting
BATCH_MATMUL, which convert to TFLite builtins and run on XNNPACK and the GPU delegate
(measured: a CONV_2D / DEPTHWISE_CONV_2D whose filter is a runtime tensor converts but
XNNPACK and OpenGL reject it; a broadcasting BATCH_MATMUL is wrong on the GPU path;
docs/design.md §2).
"""
from __future__ import annotations

from keras import layers, ops


def correlation_scale(kernel_size: int, channels: int) -> float:
    """The correlation's output scale 1 / sqrt(S*S*C) (independent of the kernel size)."""
    return 1.0 / float(kernel_size * kernel_size * channels) ** 0.5


class DynamicConv(layers.Layer):
    """Per-sample correlation with 'same' zero padding (cross-correlation, like Conv2D).

    full:      kernels [B, S, S, C, K], features [B, m, n, C] -> [B, m, n, K]
               h[b, y, x, j] = sum_{u, v, c} k[b, u, v, c, j] * f_pad[b, y + u, x + v, c]
               as im2col: S*S shifted slices concatenated to [B, m*n, S*S*C], one batched
               matmul with the kernels as [B, S*S*C, K].
    depthwise: kernels (k_dw [B, S, S, C], mix [B, C, K]): per-channel S x S correlation by
               S*S shifted slices times k_dw[:, u, v] (MUL/ADD), then [B, m*n, C] @ mix.
    The sum is divided by sqrt(S*S*C) so the output scale does not depend on the kernel size.

    `per_sample_conv` (set by the trainer, not part of the config): when the batch size is
    static, run one ordinary CONV_2D / depthwise conv per sample instead. Same numbers; its
    backward pass is the framework's fused filter gradient rather than 25 slice gradients and
    a concat, which measured a stage-2 step (3 clips x 16 frames, no D) at 0.40 s instead of
    0.61 s on a 2-core CPU. The export keeps the builtin-only formulation above.
    """

    def __init__(self, kernel_size=5, matching="full", **kwargs):
        super().__init__(**kwargs)
        self.kernel_size, self.matching = int(kernel_size), matching
        self.per_sample_conv = False

    def _per_sample(self, kernels, features, scale):
        """One conv per sample of a static batch: the same sums as `call`'s main path."""
        B = features.shape[0]
        if self.matching == "full":
            return ops.concatenate([ops.conv(features[b:b + 1], kernels[b] * scale,
                                             padding="same") for b in range(B)], axis=0)
        k_dw, mix = kernels
        y = ops.concatenate([ops.depthwise_conv(features[b:b + 1], k_dw[b][..., None],
                                                padding="same") for b in range(B)], axis=0)
        return ops.einsum("bmnc,bck->bmnk", y, mix * scale)

    def _shifted(self, features):
        S = self.kernel_size
        p = S // 2
        m, n = features.shape[1], features.shape[2]
        fp = ops.pad(features, [[0, 0], [p, p], [p, p], [0, 0]])
        return [fp[:, u:u + m, v:v + n, :] for u in range(S) for v in range(S)]

    def call(self, kernels, features):
        S = self.kernel_size
        m, n, C = features.shape[1], features.shape[2], features.shape[3]
        scale = correlation_scale(S, C)
        if self.per_sample_conv and features.shape[0] is not None:
            return self._per_sample(kernels, features, scale)
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
