"""README.md of an export folder, rendered from its manifest (tensor names, sizes, verdicts)."""
from __future__ import annotations

from .manifest import GRAPHS, OPTIONAL_GRAPHS


def _graphs(graphs: dict) -> tuple:
    """The loop's three graphs, then the optional ones this export holds."""
    return GRAPHS + tuple(g for g in OPTIONAL_GRAPHS if g in graphs)


def _model_table(man: dict) -> str:
    rows = ["| file | MB | ops | GPU delegate |", "|---|---:|---:|---|"]
    for prec, graphs in man["models"].items():
        for g in _graphs(graphs):
            e = graphs[g]
            ok = e["gpu"]["ok"]
            verdict = "ok" if ok else ("not verified" if ok is None else "**fails**")
            if ok is False and prec == "int8":
                verdict += " (int8 is for CPUs/NPUs; use fp16 on a GPU)"
            note = " (optional per-frame baseline, not in the loop)" if "role" in e else ""
            rows.append(f"| `{e['file']}`{note} | {e['bytes'] / 1e6:.2f} | {e['op_count']} | "
                        f"{verdict} |")
    return "\n".join(rows)


def _tensor_table(man: dict, prec: str) -> str:
    rows = ["| graph | role | tensor name (interpreter) | shape |", "|---|---|---|---|"]
    for g in _graphs(man["models"][prec]):
        e = man["models"][prec][g]
        for kind in ("inputs", "outputs"):
            for t in e[kind]:
                arrow = "in" if kind == "inputs" else "out"
                rows.append(f"| {g} | {arrow}: `{t['role']}` | `{t['name']}` | {t['shape']} |")
    return "\n".join(rows)


def _int8_text(man: dict) -> str:
    e = man["models"].get("int8", {}).get("dynamic_conv", {})
    kept = e.get("int8_float_ops")
    text = ("`int8` (int8 weights and activations, float32 I/O, calibrated on synthetic frames "
            "and on real tracker states")
    if kept:
        text += (f"; in `dynamic_conv` {', '.join(kept)} stay float (the correlation of two "
                 f"runtime tensors is faster and more accurate in float; a dead joint's peak "
                 f"would quantise to zero in the heatmap normalisation)")
    return text + "; for CPUs and NPUs)"


def _onnx_text(man: dict) -> str:
    """The ONNX section (export/to_onnx.py), empty when the manifest has none."""
    onnx = man.get("onnx") or {}
    if not onnx:
        return ""
    rows = ["| file | MB | opset | max abs diff from LiteRT fp32 |", "|---|---:|---:|---:|"]
    for graphs in onnx.values():
        for g in GRAPHS:
            e = graphs[g]
            rows.append(f"| `{e['file']}` | {e['bytes'] / 1e6:.2f} | {e['opset']} | "
                        f"{e['parity']['max_abs_diff']:.1e} |")
    table = "\n".join(rows)
    return f"""
## ONNX (onnxruntime: TensorRT, CUDA, CPU)

Written by `python export/to_onnx.py` from the fp32 `.tflite` files (tf2onnx, TFLite path);
`manifest.json` lists them under `"onnx"` with the same tensor names, roles and shapes as the
LiteRT models, so the loop and wiring above are unchanged. `fp16` has float16 weights and
activations (float32 I/O). The differences are each graph's output against LiteRT fp32 on the
same inputs (golden and synthetic clips).

{table}

`python -m dkd_tf.infer VIDEO --assets <this folder> --backend onnxruntime` runs them on
TensorRT, CUDA or the CPU, whichever the installed onnxruntime has (`onnxruntime-gpu` for the
first two). `trtexec --onnx=pose_initializer_fp32.onnx --fp16 --saveEngine=...` builds a TensorRT
engine directly.
"""


def render_readme(man: dict) -> str:
    inp, hm = man["input"], man["heatmap"]
    H, W = inp["height"], inp["width"]
    norm = inp["normalization"]
    prec0 = next(iter(man["models"]))
    K = len(man["joints"])
    f_shape, h_shape = man["state"]["features"], man["state"]["heatmaps"]
    gold = man.get("golden", {})
    reg = man.get("region")
    region_rule = (f"{reg['rule']} Numbers: " + ", ".join(
        f"{k} {v}" for k, v in reg.items() if k != "rule") + "."
        if reg else "(This export predates the region policy: letterbox whole frames.)")
    return f"""# DKD on the edge: exported LiteRT (TFLite) graphs

Written by `python export/to_tflite.py` for the `{man['preset']}` preset (the checkpoint is named
in `manifest.json`); do not edit by hand: the text lives in `dkd_tf/edge/readme.py`. An app
needs these files and `manifest.json` only: no TensorFlow and none of our Python code.

## Files

{_model_table(man)}

- `manifest.json` (format `{man['format']}`): input size, normalisation, letterbox, heatmap
  stride, decode rule, joint names and skeleton, and for each precision and graph the file, its
  sha256, its GPU-delegate verdict (`gpu.ok`, `gpu.method`) and its tensors with **role**,
  interpreter **name**, shape and dtype. Wire tensors by role, never by their order.
- `golden/`: a {gold.get('frames', 'short')}-frame synthetic clip (`NNNN.png`, RGB, 4:3) and
  `expected.json` with the keypoints the `{gold.get('precision', 'fp32')}` loop gives on it, to
  check a port (schema in the file; tolerance under `tolerance`).

Precisions: `fp32`; `fp16` (float16 weights, float32 activations and I/O: the usual choice
for a GPU delegate); {_int8_text(man)}. `python export/verify.py <this folder>` prints the PCK
each precision loses.

## The three graphs and the loop

All tensors are float32, batch 1, NHWC, fixed shapes. State between frames:
features `{f_shape}`, heatmaps `{h_shape}`.

- `pose_initializer`: image `[1, {H}, {W}, 3]` -> heatmaps `{h_shape}`
- `frame_encoder`: image -> features `{f_shape}`
- `dynamic_conv`: (features_prev, heatmaps_prev, features) -> heatmaps: distils pose kernels from
  the previous frame's features and heatmaps and correlates them with this frame's features.

```
x0 = preprocess(frame0)
f = frame_encoder(image=x0)
h = pose_initializer(image=x0)
for each next frame:
    x = preprocess(frame)
    f_new = frame_encoder(image=x)
    h = dynamic_conv(features_prev=f, heatmaps_prev=h, features=f_new)
    f = f_new
    keypoints = decode(h)          # every frame, frame 0 included
```
Run `pose_initializer` again (both graphs, as on frame 0) to re-initialise, e.g. on a scene cut.

**Input region** (what `python -m dkd_tf.infer` runs by default; the manifest's `"region"`
holds the numbers): real people are often small and off-centre, and the networks work best on a
person filling about half of the input, so the loop runs on a square crop that finds and
follows the person instead of the whole frame. {region_rule}

**preprocess** (letterbox, RGB): `s = min({W} / w, {H} / h)`; resize the RGB frame to
`(round(w s), round(h s))` with linear interpolation (round half up); paste it at
`ox = ({W} - round(w s)) // 2`, `oy = ({H} - round(h s)) // 2` on a {W}x{H} canvas of
{inp['letterbox']['pad_value']}; then every pixel, pad included:
`(pixel / 255 - mean) / std` with mean `{norm['mean']}`, std `{norm['std']}` (R, G, B).

**decode** (`{man['decode']['method']}`, every constant in `manifest.decode.params`): for each of
the {K} joints take the arg-max cell of its {hm['height']}x{hm['width']} map (score = the
maximum); refine it (DARK: one Newton step on the log-heatmap from a 3x3 stencil, clamped to
half a cell; quarter-offset fallback); a heatmap coordinate `u` is input pixel `u * {hm['stride']}`
and frame pixel `(u * {hm['stride']} - ox + 0.5) / s - 0.5` (same for y with `oy`; pixel centres, as
the resize maps them).

## Android (LiteRT / TFLite Java API, GPU delegate)

```kotlin
val compat = CompatibilityList()
val options = Interpreter.Options().apply {{
    if (compat.isDelegateSupportedOnThisDevice)
        addDelegate(GpuDelegate(compat.bestOptionsForThisDevice))
    else setNumThreads(4)                      // XNNPACK on the CPU
}}
val encoder = Interpreter(loadModelFile("frame_encoder_fp16.tflite"), options)
val initializer = Interpreter(loadModelFile("pose_initializer_fp16.tflite"), options)
val dynamicConv = Interpreter(loadModelFile("dynamic_conv_fp16.tflite"), options)

// Signature names are the roles, so the loop is wired by role:
val f0 = Array(1) {{ Array({f_shape[1]}) {{ Array({f_shape[2]}) {{ FloatArray({f_shape[3]}) }} }} }}
encoder.runSignature(mapOf("image" to input), mapOf("features" to f0))
// ... dynamicConv.runSignature(mapOf("features_prev" to f, "heatmaps_prev" to h,
//                                    "features" to fNew), mapOf("heatmaps" to hNew))
```
Equivalently, find tensors by the interpreter names in the manifest
(`getInputIndex(name)`) and read shapes from there. Keep one interpreter per graph, reuse the
output buffers as the next frame's inputs (`f`, `h`), and copy `h` out before decoding if the
buffers are shared. The GPU verdicts in the manifest come from the TFLite GPU-delegate rules
and LiteRT's GPU accelerator on a software Vulkan device (SwiftShader): they prove op coverage
and float32 kernel correctness, not a phone's speed or its fp16 precision. The
`dynamic_conv` graph has no convolution with a runtime filter (which the delegate's OpenGL ES
backend rejects); its correlation is slices, a concatenation and a rank-3 BATCH_MATMUL.

## Jetson / Linux (Python LiteRT wheel)

```
pip install ai-edge-litert numpy opencv-python-headless
```
```python
import json, cv2, numpy as np
from ai_edge_litert.interpreter import Interpreter

m = json.load(open("manifest.json"))
def load(graph, prec="fp32"):
    e = m["models"][prec][graph]
    it = Interpreter(model_path=e["file"], num_threads=4); it.allocate_tensors()
    ins = {{d["name"]: d for d in it.get_input_details()}}
    outs = {{d["name"]: d for d in it.get_output_details()}}
    return it, {{t["role"]: ins[t["name"]]["index"] for t in e["inputs"]}}, \\
               {{t["role"]: outs[t["name"]]["index"] for t in e["outputs"]}}
def run(g, **arrays):
    it, ins, outs = g
    for role, a in arrays.items(): it.set_tensor(ins[role], a)
    it.invoke()
    return {{role: it.get_tensor(i).copy() for role, i in outs.items()}}
```
then the loop above (`run(encoder, image=x)["features"]`, ...). The wheel runs on the CPU with
XNNPACK; its `CompiledModel` API can use a GPU through LiteRT's WebGPU accelerator where a
Vulkan driver exists (not measured on a Jetson here).
{_onnx_text(man)}
## Tensor names ({prec0})

{_tensor_table(man, prec0)}

The other precisions have the same roles and shapes; their names are in the manifest.

## Checking a port

Run your loop on `golden/NNNN.png` in order (frame 0 runs the initializer) and compare your
keypoints with `golden/expected.json` (frame pixels); `python export/verify.py <folder>` runs
every precision on held-out synthetic videos and prints PCK@0.2, the drop from the Keras
model, and ms per frame of each graph.
"""
