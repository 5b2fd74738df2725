from setuptools import find_packages, setup

with open("requirements.txt") as f:
    requirements = [line.strip() for line in f if line.strip() and not line.startswith("#")]

ONNX_RUNTIME = ["onnxruntime>=1.32,<2"]  # onnxruntime-gpu (same module) on CUDA / TensorRT
ONNX_EXPORT = ["tf2onnx==1.17.0", "onnx>=1.23,<2", *ONNX_RUNTIME]

setup(
    name="dkd-tf",
    version="0.1.0",
    description="Dynamic Kernel Distillation (ICCV 2019) for video pose estimation, TF2/Keras 3 + LiteRT",
    packages=find_packages(include=["dkd_tf", "dkd_tf.*"]),
    python_requires=">=3.10",
    install_requires=requirements,
    # verified together here with TF 2.21, numpy 2.4 and protobuf 7 (Python 3.11, CPU):
    # tf2onnx 1.17.0 (its TFLite path), onnx 1.23.2, onnxruntime 1.32.0
    extras_require={"onnx": ONNX_RUNTIME,
                    "export-onnx": ONNX_EXPORT,
                    "test": ["pytest>=8", *ONNX_EXPORT]},
)
