"""Temporal discriminator D: a BEGAN-style auto-encoder over heatmap changes."""
from __future__ import annotations

import keras
from keras import layers, ops


class TemporalDiscriminator(layers.Layer):
    """(I_t, h_t, I_{t+1}, h_{t+1}) -> reconstructed change d [B, m, n, K].

    images [B, H, W, 3] are average-pooled to the heatmap resolution m x n; the concatenation
    [B, m, n, 6 + 2K] is encoded by two stride-2 convs and a dense bottleneck of `code` units,
    then decoded back to m x n x K. Trained (BEGAN) so that ground-truth pairs reconstruct
    their change well and predicted pairs badly; the tracker learns to make its heatmap
    changes look like real ones (temporally consistent motion).
    """

    def __init__(self, num_joints=13, filters=32, code=64, heatmap_size=32, **kwargs):
        super().__init__(**kwargs)
        self.num_joints, self.filters, self.code, self.heatmap_size = (num_joints, filters,
                                                                       code, heatmap_size)
        q = heatmap_size // 4
        self.encoder = keras.Sequential([
            layers.Conv2D(filters, 3, padding="same", activation="elu"),
            layers.Conv2D(filters * 2, 3, 2, padding="same", activation="elu"),
            layers.Conv2D(filters * 4, 3, 2, padding="same", activation="elu"),
            layers.Flatten(), layers.Dense(code)])
        self.decoder = keras.Sequential([
            layers.Dense(q * q * filters, activation="elu"), layers.Reshape((q, q, filters)),
            layers.UpSampling2D(2), layers.Conv2D(filters, 3, padding="same", activation="elu"),
            layers.UpSampling2D(2), layers.Conv2D(filters, 3, padding="same", activation="elu"),
            # tanh bounds the reconstruction to the range of a heatmap change [-1, 1]:
            # with BEGAN's k near 1, an unbounded D inflated L(fake) without limit and the
            # generator's adversarial gradient wrecked the tracker (measured: L_G 0.03 -> 11)
            layers.Conv2D(num_joints, 3, padding="same", activation="tanh")])

    def call(self, image_t, heat_t, image_t1, heat_t1, training=None):
        f = image_t.shape[1] // heat_t.shape[1]
        pool = lambda x: ops.average_pool(x, f, f, padding="valid")  # noqa: E731
        x = ops.concatenate([pool(image_t), heat_t, pool(image_t1), heat_t1], axis=-1)
        return self.decoder(self.encoder(x, training=training), training=training)

    def get_config(self):
        return {**super().get_config(), "num_joints": self.num_joints, "filters": self.filters,
                "code": self.code, "heatmap_size": self.heatmap_size}
