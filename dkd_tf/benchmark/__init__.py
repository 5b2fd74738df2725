"""Parts of `python -m dkd_tf.bench` (dkd_tf/bench.py is the command): tflite_analysis
(ops, params, FLOPs from the flatbuffer), timing, correlation (runtime vs constant kernels),
memory (RSS probes in runtime-only processes), accuracy (policies, smoothing, PCK vs ms).
Only `correlation` (and the bench's --preset export) imports TensorFlow."""
