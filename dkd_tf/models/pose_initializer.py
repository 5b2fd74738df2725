"""Pose initializer P: Simple Baselines (Xiao et al. 2018), image -> heatmaps at stride 4."""
from __future__ import annotations

import keras
from keras import layers

from .backbone import Backbone, conv_bn


class PoseInitializer(layers.Layer):
    """image [B, H, W, 3] (normalised) -> heatmaps [B, H/4, W/4, K].

    Backbone to stride 32, then 3 x [deconv 4x4 stride 2, BN, ReLU] and a 1x1 conv to K.
    skips=True adds 1x1-projected backbone features (strides 16, 8, 4) after each deconv: a
    measured departure from the paper that gets a small CPU-trained P off the all-zero
    heatmap plateau at once (with the foreground-weighted MSE; without both, P sat on the
    plateau for minutes: docs/design.md §1).
    """

    def __init__(self, num_joints=13, backbone="resnet18", width=1.0, deconv_filters=256,
                 skips=True, **kwargs):
        super().__init__(**kwargs)
        self.num_joints, self.backbone_kind, self.width = num_joints, backbone, float(width)
        self.deconv_filters, self.skips = deconv_filters, bool(skips)
        self.backbone = Backbone(backbone, width, stages=4)
        self.deconvs = [keras.Sequential([
            layers.Conv2DTranspose(deconv_filters, 4, 2, padding="same", use_bias=False),
            layers.BatchNormalization(momentum=0.9, epsilon=1e-5), layers.ReLU()])
            for _ in range(3)]
        self.skip_convs = ([conv_bn(deconv_filters, 1, relu=False) for _ in range(3)]
                           if skips else [])
        self.head = layers.Conv2D(num_joints, 1, padding="same")

    def call(self, image, training=None):
        feats = self.backbone(image, training=training)  # strides 4, 8, 16, 32
        x = feats[-1]
        for i, deconv in enumerate(self.deconvs):
            x = deconv(x, training=training)
            if self.skips:
                x = keras.ops.relu(x + self.skip_convs[i](feats[2 - i], training=training))
        return self.head(x)

    def get_config(self):
        return {**super().get_config(), "num_joints": self.num_joints,
                "backbone": self.backbone_kind, "width": self.width,
                "deconv_filters": self.deconv_filters, "skips": self.skips}
