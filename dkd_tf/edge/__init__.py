"""The export library: DKD -> three LiteRT (TFLite) graphs, a manifest, a golden clip.

  graphs      the three tf.functions (named, batch 1, frozen) and the GPU-friendly rewrites
  convert     TFLite conversion per precision (fp32, fp16, int8), builtin ops only
  calibration int8 representative data from synthetic videos
  manifest    manifest.json: build, validate, the role mapping (no TensorFlow)
  gpu         GPU-delegate verdicts (../shared/tools/gpu_check; LiteRT's own GPU path)
  litert      interpreter loading (the runtime's) and op listing (no TensorFlow)
  host_loop   the manifest's loop over the exported graphs: a view of dkd_tf.runtime's tracker
  onnx_export ONNX graphs beside the .tflite files, parity with LiteRT (tf2onnx; TensorFlow)
  golden      the golden clip for device ports
  verify      PCK of the exported set on held-out synthetic videos
  readme      README.md of an export folder, rendered from its manifest
  exporter    export_model(model, cfg, out_dir, ...) -> manifest
  cli         the export/ scripts' parser (pure Python; their checks: dkd_tf.errors)
Checkpoints come from dkd_tf.checkpoints, held-out videos and scores from dkd_tf.heldout.
Modules that need TensorFlow (graphs, convert, calibration's triples, exporter) import it
themselves; importing this package does not.
"""
