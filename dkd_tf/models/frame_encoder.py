"""Frame encoder F: the small per-frame network, image -> features at the heatmap resolution."""
from __future__ import annotations

import keras
from keras import layers

from .backbone import Backbone, conv_bn


class FrameEncoder(layers.Layer):
    """image [B, H, W, 3] (normalised) -> features f_t [B, H/4, W/4, C].

    A light backbone down to stride 4 * 2**(stages-1), then a top-down path (nearest x2
    upsampling plus 1x1 lateral projections, as in FPN) back to stride 4, so every feature
    sees context at the cost of a few 1x1 convs; a final 3x3 conv gives C channels, linear
    (the correlation wants signed features).
    out="separable": that 3x3 conv is depthwise 3x3 + BN + ReLU + 1x1 conv-BN-ReLU (at stride
    4 a full 3x3 C -> C conv was a third of the mobile F's FLOPs: 75 of 232 MFLOPs at 256 px).
    """

    def __init__(self, channels=32, backbone="resnet18", width=0.25, stages=3, out="conv",
                 **kwargs):
        super().__init__(**kwargs)
        self.channels, self.backbone_kind, self.width, self.stages = (channels, backbone,
                                                                      float(width), int(stages))
        self.out_kind = out
        self.backbone = Backbone(backbone, width, stages=stages)
        self.laterals = [conv_bn(channels, 1, relu=False) for _ in range(stages)]
        self.up = layers.UpSampling2D(2, interpolation="nearest")
        if out == "separable":
            head = [layers.DepthwiseConv2D(3, padding="same", use_bias=False),
                    layers.BatchNormalization(momentum=0.9, epsilon=1e-5), layers.ReLU(),
                    conv_bn(channels, 1)]
        else:
            head = [conv_bn(channels, 3)]
        self.out = keras.Sequential([*head, layers.Conv2D(channels, 1)])

    def call(self, image, training=None):
        feats = self.backbone(image, training=training)
        x = self.laterals[-1](feats[-1], training=training)
        for i in range(self.stages - 2, -1, -1):
            x = self.up(x) + self.laterals[i](feats[i], training=training)
        return self.out(x, training=training)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels,
                "backbone": self.backbone_kind, "width": self.width, "stages": self.stages,
                "out": self.out_kind}
