"""Fixtures: exported model directories (tiny detector with real NMS, tiny real YOLOv3)
and test images (a real photo and synthetic ones)."""
import cv2
import pytest

from deploy_models import (LABELS, TINY_SIZE, TinyDetector, export_tiny,  # noqa: F401
                           export_yolov3, synthetic_image)


@pytest.fixture(scope='session')
def tiny_model_dir(tmp_path_factory):
    return export_tiny(str(tmp_path_factory.mktemp('tiny_export')))


@pytest.fixture(scope='session')
def yolov3_model_dir(tmp_path_factory):
    return export_yolov3(str(tmp_path_factory.mktemp('yolov3_export')))


@pytest.fixture(scope='session')
def photo():
    """A real photo (scikit-image's astronaut, BSD) downsized, RGB uint8."""
    from skimage import data
    return cv2.resize(data.astronaut(), (160, 160), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope='session')
def images(photo):
    return [photo, synthetic_image(1), synthetic_image(2, 120, 90)]
