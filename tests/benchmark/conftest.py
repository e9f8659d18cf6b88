"""Fixtures: the deploy tests' exported models and images (the latency sweep runs real
predictors on them); tests/deploy/deploy_models.py defines them."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'deploy'))
from deploy_models import (images, lite_env, photo, tiny_model_dir,  # noqa: E402,F401
                           yolov3_int8_dir, yolov3_model_dir)
