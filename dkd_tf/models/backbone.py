"""Backbones: ResNet-18/34/50 and a MobileNetV2-style net, random init (no downloads).

`Backbone(kind, width, stages)` maps an image [B, H, W, 3] to the list of its stage outputs at
strides 4, 8, 16, 32 (the first `stages` of them; the last is the deepest). Channels scale with
`width` (rounded to multiples of 8, at least 8).
"""
from __future__ import annotations

import keras
from keras import layers

_RESNET = {"resnet18": ("basic", (2, 2, 2, 2)), "resnet34": ("basic", (3, 4, 6, 3)),
           "resnet50": ("bottleneck", (3, 4, 6, 3))}
# MobileNetV2: (expansion, channels, repeats, first stride) per stage at strides 4..32
_MBV2 = ((6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 160, 3, 2))


def _ch(c, width):
    return max(8, int(round(c * width / 8)) * 8)


def conv_bn(filters, kernel, stride=1, relu=True, name=None, groups=1):
    """Conv (no bias) + BatchNorm (+ ReLU) as one Sequential."""
    seq = [layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, groups=groups),
           layers.BatchNormalization(momentum=0.9, epsilon=1e-5)]
    if relu:
        seq.append(layers.ReLU())
    return keras.Sequential(seq, name=name)


class _Residual(layers.Layer):
    def __init__(self, filters, stride, bottleneck, project, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.stride, self.bottleneck, self.project = filters, stride, bottleneck, project
        if bottleneck:
            self.body = keras.Sequential([conv_bn(filters, 1), conv_bn(filters, 3, stride),
                                          conv_bn(filters * 4, 1, relu=False)])
            out = filters * 4
        else:
            self.body = keras.Sequential([conv_bn(filters, 3, stride),
                                          conv_bn(filters, 3, relu=False)])
            out = filters
        self.shortcut = conv_bn(out, 1, stride, relu=False) if project else None

    def call(self, x, training=None):
        s = self.shortcut(x, training=training) if self.shortcut is not None else x
        return keras.ops.relu(self.body(x, training=training) + s)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "stride": self.stride,
                "bottleneck": self.bottleneck, "project": self.project}


class _InvertedResidual(layers.Layer):
    def __init__(self, filters, stride, expansion, in_channels, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.stride, self.expansion, self.in_channels = (filters, stride, expansion,
                                                                       in_channels)
        hidden = in_channels * expansion
        self.body = keras.Sequential([
            conv_bn(hidden, 1),
            layers.DepthwiseConv2D(3, stride, padding="same", use_bias=False),
            layers.BatchNormalization(momentum=0.9, epsilon=1e-5), layers.ReLU(max_value=6.0),
            conv_bn(filters, 1, relu=False)])
        self.residual = stride == 1 and in_channels == filters

    def call(self, x, training=None):
        y = self.body(x, training=training)
        return x + y if self.residual else y

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "stride": self.stride,
                "expansion": self.expansion, "in_channels": self.in_channels}


class Backbone(layers.Layer):
    """image [B, H, W, 3] -> [f4, f8, f16, f32][:stages], f_s [B, H/s, W/s, C_s]."""

    def __init__(self, kind="resnet18", width=1.0, stages=4, **kwargs):
        super().__init__(**kwargs)
        self.kind, self.width, self.stages = kind, float(width), int(stages)
        self.stage_layers = []
        if kind in _RESNET:
            block, reps = _RESNET[kind]
            bottleneck = block == "bottleneck"
            self.stem = keras.Sequential([conv_bn(_ch(64, width), 7, 2),
                                          layers.MaxPooling2D(3, 2, padding="same")])
            c_in = _ch(64, width)
            self.channels = []
            for i, n in enumerate(reps[:self.stages]):
                f = _ch(64 * 2 ** i, width)
                out = f * 4 if bottleneck else f
                blocks = []
                for b in range(n):
                    stride = 2 if (b == 0 and i > 0) else 1
                    blocks.append(_Residual(f, stride, bottleneck,
                                            project=(b == 0 and (stride != 1 or c_in != out))))
                    c_in = out
                self.stage_layers.append(keras.Sequential(blocks))
                self.channels.append(out)
        elif kind == "mobilenetv2":
            c0 = _ch(32, width)
            self.stem = keras.Sequential([conv_bn(c0, 3, 2), layers.DepthwiseConv2D(
                3, padding="same", use_bias=False), layers.BatchNormalization(momentum=0.9),
                layers.ReLU(6.0), conv_bn(_ch(16, width), 1, relu=False)])
            c_in = _ch(16, width)
            self.channels = []
            for e, c, n, s in _MBV2[:self.stages]:
                f = _ch(c, width)
                blocks = []
                for b in range(n):
                    blocks.append(_InvertedResidual(f, s if b == 0 else 1, e, c_in))
                    c_in = f
                self.stage_layers.append(keras.Sequential(blocks))
                self.channels.append(f)
        else:
            raise ValueError(f"unknown backbone {kind!r}")

    def call(self, x, training=None):
        x = self.stem(x, training=training)
        outs = []
        for stage in self.stage_layers:
            x = stage(x, training=training)
            outs.append(x)
        return outs

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "width": self.width,
                "stages": self.stages}
