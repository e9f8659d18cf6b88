"""Fixtures: exported model directories (tiny detector with real NMS, tiny real YOLOv3)
and test images (a real photo and synthetic ones), defined in deploy_models.py."""
from deploy_models import (group_norm_model_dir, images, lite_env, photo,  # noqa: F401
                           tiny_model_dir, yolov3_int8_dir, yolov3_model_dir)
