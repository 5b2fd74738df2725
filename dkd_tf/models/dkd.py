"""DKD: the whole tracker as one Keras model (P, F, Phi, matching; D lives beside it)."""
from __future__ import annotations

import keras
from keras import layers, ops

from ..config import ModelConfig
from .dynamic_conv import DynamicConv
from .frame_encoder import FrameEncoder
from .pose_initializer import PoseInitializer
from .pose_kernel_distillator import PoseKernelDistillator


class DKD(keras.Model):
    """Dynamic Kernel Distillation tracker.

    call(clip [B, T, H, W, 3]) -> heatmaps [B, T, m, n, K]: P on frame 1, then for t >= 1
    h_{t+1} = track(f_t, h_t, F(I_{t+1})). The per-frame functions below are the exact ones
    the edge export runs, so the unroll and the streaming path share one code path:
      init_step(image)                               -> (features, heatmaps)
      track_step(features_prev, heatmaps_prev, image) -> (features, heatmaps)
      match(features_prev, heatmaps_prev, features)   -> heatmaps  (Phi then the correlation)
    With heatmap_prior > 0 a learned per-joint S x S depthwise conv of h_t is added to the
    correlation (a location prior; a named departure from the paper, 0 turns it off). With
    normalize_heatmaps, h_t is divided by its per-joint peak (after ReLU) before Phi and the
    prior (a named departure: it stopped the first-tracked-frame drop and the drift). With
    static_kernel, Phi's kernels are k_0 + Phi(f_t, h_t) (see PoseKernelDistillator; the
    trainer starts k_0 from F's stage-1 per-frame head). freeze_encoder_statistics (set by
    the trainer for stage 2) keeps F's BatchNorm in inference mode while its weights train.
    """

    def __init__(self, model_config: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        cfg = ModelConfig(**(model_config or {}))
        self.model_config = dict(model_config or {})
        self.cfg = cfg
        K = cfg.num_joints
        self.initializer = PoseInitializer(K, cfg.initializer_backbone, cfg.initializer_width,
                                           cfg.deconv_filters, cfg.initializer_skips,
                                           name="pose_initializer")
        self.encoder = FrameEncoder(cfg.feature_channels, cfg.encoder_backbone,
                                    cfg.encoder_width, cfg.encoder_stages, cfg.encoder_out,
                                    name="frame_encoder")
        self.distillator = PoseKernelDistillator(cfg.feature_channels, K, cfg.kernel_size,
                                                 cfg.distillator_filters, cfg.distillator_pools,
                                                 cfg.heatmap_size, cfg.matching,
                                                 cfg.static_kernel, cfg.distillator_pool_first,
                                                 name="pose_kernel_distillator")
        self.dynamic_conv = DynamicConv(cfg.kernel_size, cfg.matching, name="dynamic_conv")
        self.prior = (layers.DepthwiseConv2D(cfg.heatmap_prior, padding="same",
                                             name="heatmap_prior")
                      if cfg.heatmap_prior else None)
        self.freeze_initializer = False
        self.freeze_encoder_statistics = False

    # ---- per-frame functions (exported) -----------------------------------------------
    def init_step(self, image, training=None):
        p_train = training and not self.freeze_initializer
        return (self.encoder(image, training=self._encoder_mode(training)),
                self.initializer(image, training=p_train))

    def _encoder_mode(self, training):
        # freeze_encoder_statistics: F's BatchNorm keeps its stage-1 moving statistics while
        # its weights train (clips of 3 give per-frame batch statistics of 3 images)
        return training and not self.freeze_encoder_statistics

    def match(self, features_prev, heatmaps_prev, features, training=None):
        if self.cfg.normalize_heatmaps:
            # per-joint peak normalisation: Phi sees the same amplitude whether h_t came from
            # P or from the tracker, so amplitudes can neither fade nor blow up over frames
            pos = ops.relu(heatmaps_prev)
            heatmaps_prev = pos / (ops.max(pos, axis=(1, 2), keepdims=True) + 1e-3)
        kernels = self.distillator(features_prev, heatmaps_prev, training=training)
        h = self.dynamic_conv(kernels, features)
        if self.prior is not None:
            h = h + self.prior(heatmaps_prev)
        return h

    def track_step(self, features_prev, heatmaps_prev, image, training=None):
        f = self.encoder(image, training=self._encoder_mode(training))
        return f, self.match(features_prev, heatmaps_prev, f, training=training)

    # ---- the unroll --------------------------------------------------------------------
    def call(self, clip, training=None):
        f, h = self.init_step(clip[:, 0], training=training)
        return self.unroll(clip, f, h, training=training)

    def unroll(self, clip, features, heatmaps, training=None):
        """Tracks through clip[:, 1:] from the state (features, heatmaps) of clip[:, 0];
        returns [B, T, m, n, K] with `heatmaps` as frame 0 (training's warm-started clips
        continue from a state the tracker reached itself)."""
        f, h = features, heatmaps
        out = [h]
        for t in range(1, clip.shape[1]):
            f, h = self.track_step(f, h, clip[:, t], training=training)
            out.append(h)
        return ops.stack(out, axis=1)

    def build_all(self, batch: int = 1):
        """Creates every variable with a dummy two-frame clip."""
        s = self.cfg.input_size
        self(ops.zeros((batch, 2, s, s, 3)), training=False)
        return self

    def get_config(self):
        return {**super().get_config(), "model_config": self.model_config}
