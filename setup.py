from setuptools import find_packages, setup

setup(
    name='ppdet-slim',
    version='0.1.0',
    description='Model compression for object detectors on PaddlePaddle '
                '(pruning, distillation, quantization, deployment)',
    packages=find_packages(include=['ppdet', 'ppdet.*']),
    python_requires='>=3.8',
    install_requires=[],  # pinned in requirements.txt; see README (paddleslim needs --no-deps)
)
