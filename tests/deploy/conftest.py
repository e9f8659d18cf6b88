"""Fixtures: exported model directories (tiny detector with real NMS, tiny real YOLOv3)
and test images (a real photo and synthetic ones), defined in deploy_models.py."""
from deploy_models import images, photo, tiny_model_dir, yolov3_model_dir  # noqa: F401
