"""Pose kernel distillator Phi: (features f_t, heatmaps h_t) -> pose kernels k_t, one pass."""
from __future__ import annotations

import keras
from keras import layers

from .backbone import conv_bn


class PoseKernelDistillator(layers.Layer):
    """(features [B, m, n, C], heatmaps [B, m, n, K]) -> kernels.

    concat -> 1x1 conv -> [3x3 conv, BN, ReLU, 2x2 max-pool] x pools -> conv 'valid' whose
    size takes the pooled map to exactly S x S (pooling is what shrinks m x n to S x S, as in
    the paper's 64 -> 31 -> 15 -> 7). pool_first: concat -> pool -> 1x1 conv -> 3x3 conv ->
    [pool, 3x3 conv] x (pools - 1) -> the same 'valid' conv (a quarter of the FLOPs).
      matching="full":      k [B, S, S, C, K]  (one S x S x C kernel per joint, the paper)
      matching="depthwise": (k_dw [B, S, S, C], mix [B, C, K]): per-channel S x S kernels and
                            a 1x1 channel-to-joint mixing, both distilled (several x cheaper).
    static_kernel: the kernels are k_0 + Phi(f_t, h_t), with k_0 a learned, input-independent
    kernel ([S, S, C, K]; depthwise: [S, S, C] and [C, K]), zero until the trainer sets it
    (`init_from_template`). A named departure: the paper distils the whole kernel.
    """

    def __init__(self, channels=32, num_joints=13, kernel_size=5, filters=48, pools=2,
                 heatmap_size=32, matching="full", static_kernel=False, pool_first=False,
                 **kwargs):
        super().__init__(**kwargs)
        self.channels, self.num_joints, self.kernel_size = channels, num_joints, kernel_size
        self.filters, self.pools, self.heatmap_size, self.matching = (filters, pools,
                                                                      heatmap_size, matching)
        self.static_kernel = bool(static_kernel)
        self.pool_first = bool(pool_first)
        S, C, K = kernel_size, channels, num_joints
        if self.static_kernel:
            shapes = {"full": [("static_kernel", (S, S, C, K))],
                      "depthwise": [("static_depthwise", (S, S, C)), ("static_mix", (C, K))]}
            self.static = [self.add_weight(shape=shape, initializer="zeros", name=name)
                           for name, shape in shapes[matching]]
        self.inp = conv_bn(filters, 1)
        # pool_first: the concat is max-pooled before the 1x1 conv and each stage pools before
        # its 3x3 conv, so every conv runs at m/2, m/4, ... instead of m, m/2, ... (4x fewer
        # FLOPs, the same m -> m / 2**pools chain; max-pooling keeps each heatmap's peak)
        self.pre_pool = layers.MaxPooling2D(2) if self.pool_first else None
        if self.pool_first:
            self.stages = [keras.Sequential(([layers.MaxPooling2D(2)] if i else [])
                                            + [conv_bn(filters, 3)]) for i in range(pools)]
        else:
            self.stages = [keras.Sequential([conv_bn(filters, 3), layers.MaxPooling2D(2)])
                           for _ in range(pools)]
        pooled = heatmap_size // 2 ** pools
        ksize = pooled - kernel_size + 1
        out_ch = channels * num_joints if matching == "full" else channels
        self.to_kernel = layers.Conv2D(out_ch, ksize, padding="valid")
        if matching == "depthwise":
            self.to_mix = layers.Dense(channels * num_joints)

    def call(self, features, heatmaps, training=None):
        x = keras.ops.concatenate([features, heatmaps], axis=-1)
        if self.pre_pool is not None:
            x = self.pre_pool(x)
        x = self.inp(x, training=training)
        for stage in self.stages:
            x = stage(x, training=training)
        k = self.to_kernel(x)  # [B, S, S, C*K] or [B, S, S, C]
        S, C, K = self.kernel_size, self.channels, self.num_joints
        mix = (keras.ops.reshape(self.to_mix(keras.ops.mean(x, axis=(1, 2))), (-1, C, K))
               if self.matching == "depthwise" else None)
        if self.static_kernel:
            # k_0 is added with the same rank as k (and a batch axis of 1): at the edge's
            # batch 1 the ADD neither broadcasts nor has 5-D operands (GPU-delegate rules)
            k = k + keras.ops.reshape(self.static[0], (1, *k.shape[1:]))
            if mix is not None:
                mix = mix + keras.ops.reshape(self.static[1], (1, C, K))
        if self.matching == "full":
            return keras.ops.reshape(k, (-1, S, S, C, K))
        return k, mix

    def init_from_template(self, template, scale: float) -> None:
        """Starts the tracker as a per-frame detector: k_0 = `template` [C, K] (a 1x1
        features-to-heatmaps map, e.g. the encoder's auxiliary head from stage 1) at the
        kernel's centre tap, divided by the correlation's `scale` (DynamicConv) so that
        k_0 (x) f = f @ template; the distilled part starts at zero (its last layer zeroed),
        so training first learns what the previous frame adds to the template."""
        import numpy as np

        S, C, K = self.kernel_size, self.channels, self.num_joints
        c = S // 2
        template = np.asarray(template, np.float32).reshape(C, K)
        if self.matching == "full":
            k0 = np.zeros((S, S, C, K), np.float32)
            k0[c, c] = template / scale
            self.static[0].assign(k0)
        else:
            dw = np.zeros((S, S, C), np.float32)
            dw[c, c] = 1.0
            self.static[0].assign(dw)
            self.static[1].assign(template / scale)
            for v in self.to_mix.weights:
                v.assign(np.zeros(v.shape, np.float32))
        for v in self.to_kernel.weights:
            v.assign(np.zeros(v.shape, np.float32))

    def get_config(self):
        return {**super().get_config(), "channels": self.channels,
                "num_joints": self.num_joints, "kernel_size": self.kernel_size,
                "filters": self.filters, "pools": self.pools,
                "heatmap_size": self.heatmap_size, "matching": self.matching,
                "static_kernel": self.static_kernel, "pool_first": self.pool_first}
