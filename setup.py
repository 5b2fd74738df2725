from setuptools import find_packages, setup

with open("requirements.txt") as f:
    requirements = [line.strip() for line in f if line.strip() and not line.startswith("#")]

setup(
    name="dkd-tf",
    version="0.1.0",
    description="Dynamic Kernel Distillation (ICCV 2019) for video pose estimation, TF2/Keras 3 + LiteRT",
    packages=find_packages(include=["dkd_tf", "dkd_tf.*"]),
    python_requires=">=3.10",
    install_requires=requirements,
    extras_require={"test": ["pytest>=8"]},
)
