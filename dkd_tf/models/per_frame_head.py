"""F's per-frame heatmap head: features f_t -> heatmaps with no past (the small-network
baseline of the paper's ablation: the frame encoder used alone).

Which head matches F depends on where training is (dkd_tf/trainer.py):
  stage 1           F is trained with an auxiliary 1x1 head (the Trainer's `aux_head`, saved in
                    the checkpoint as `aux_head/...`), so F + that head is the per-frame
                    detector.
  stage 2 started   F keeps training, the auxiliary head does not (it is not in stage 2's
                    loss), so it no longer matches F. With static_kernel the tracker's kernels
                    are k_0 + Phi(f_t, h_t); `Trainer.start_stage2` set k_0 to the auxiliary
                    head (centre tap, divided by the correlation's scale) and the heatmap
                    prior's bias to the head's bias, and both train on with F. So the head that
                    matches a stage-2 F is the static kernel k_0 (x) f_t + the prior's bias:
                    the tracker's match with the distilled part Phi(f_t, h_t) and the prior's
                    input h_t removed. At the first stage-2 step it equals the auxiliary head
                    exactly. A model without static_kernel (configs older than k_0) has no
                    head that matches F once stage 2 has run: no row.
`resolve_head` applies these rules; `PerFrameHead` is the head as one constant S x S conv.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from keras import layers

from .dynamic_conv import correlation_scale

AUX_KEYS = ("aux_head/variables_list/0/.ATTRIBUTES/VARIABLE_VALUE",
            "aux_head/variables_list/1/.ATTRIBUTES/VARIABLE_VALUE")


class PerFrameHead(layers.Layer):
    """features [B, m, n, C] -> heatmaps [B, m, n, K]: conv(f, kernel, 'same') + bias.

    kernel [s, s, C, K] (s odd: 1 for the auxiliary head, S for k_0), bias [K]; `source` says
    where the weights came from ("aux_head" or "static_kernel"). The weights are constants of
    the checkpoint (non-trainable), so the exported graph is one builtin CONV_2D after F.
    """

    def __init__(self, kernel, bias, source: str = "", **kwargs):
        super().__init__(**kwargs)
        kernel = np.asarray(kernel, np.float32)
        bias = np.asarray(bias, np.float32).reshape(-1)
        if kernel.ndim != 4 or kernel.shape[0] % 2 == 0 or kernel.shape[-1] != bias.shape[0]:
            raise ValueError(f"head kernel {kernel.shape} / bias {bias.shape}: expected "
                             f"[s, s, C, K] with s odd and [K]")
        self.source = source
        self.conv = layers.Conv2D(kernel.shape[-1], kernel.shape[0], padding="same",
                                  trainable=False, name="conv")
        self.conv.build((None, None, None, kernel.shape[2]))
        self.conv.set_weights([kernel, bias])

    @property
    def kernel_size(self) -> int:
        return int(self.conv.kernel.shape[0])

    def call(self, features):
        return self.conv(features)

    def flops(self, m: int, n: int) -> int:
        """Multiply-adds x 2 (plus the bias) for one sample."""
        s, _, C, K = self.conv.kernel.shape
        return int(2 * m * n * s * s * C * K + m * n * K)


def static_kernel_head(model) -> PerFrameHead:
    """k_0 (x) f + the heatmap prior's bias as one conv (module docs). k_0 of a depthwise
    model (k_dw [S, S, C], mix [C, K]) is expanded to the full [S, S, C, K] kernel."""
    d = model.distillator
    if not d.static_kernel:
        raise ValueError("the model has no static kernel k_0")
    S, C = d.kernel_size, d.channels
    scale = correlation_scale(S, C)
    if d.matching == "full":
        k = d.static[0].numpy()
    else:
        k = d.static[0].numpy()[..., None] * d.static[1].numpy()[None, None]
    K = k.shape[-1]
    bias = (model.prior.weights[1].numpy() if model.prior is not None
            else np.zeros(K, np.float32))
    return PerFrameHead(k * scale, bias, "static_kernel", name="per_frame_head")


def resolve_head(model, aux: Optional[Tuple[np.ndarray, np.ndarray]],
                 stage2_steps: Optional[int]) -> Tuple[Optional[PerFrameHead], str]:
    """(head or None, a one-line note saying which head, or why there is none).

    aux: the auxiliary head's (kernel [1, 1, C, K], bias [K]) or None when the checkpoint
    holds none; stage2_steps: stage-2 optimiser steps taken (None = unknown). A static k_0
    that is still all zero means stage 2 has not started (start_stage2 sets it)."""
    d = model.distillator
    if d.static_kernel and any(np.any(v.numpy() != 0) for v in d.static):
        return static_kernel_head(model), ("static kernel k_0 + prior bias (F's stage-1 head "
                                           "as trained on with F in stage 2)")
    if aux is None:
        return None, "the checkpoint holds no per-frame head of F (aux_head)"
    if d.static_kernel or stage2_steps == 0:
        return (PerFrameHead(aux[0], aux[1], "aux_head", name="per_frame_head"),
                "stage-1 auxiliary head (stage 2 has not started)")
    return None, ("F trained on in stage 2 after its stage-1 head and the model has no static "
                  "kernel: no per-frame head matches this F")
