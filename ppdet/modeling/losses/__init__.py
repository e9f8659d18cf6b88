from ppdet.modeling.losses.yolo_loss import YOLOv3Loss  # noqa: F401
from ppdet.modeling.losses.ssd_loss import SSDLoss  # noqa: F401
from ppdet.modeling.losses.focal_loss import FocalLoss  # noqa: F401
from ppdet.modeling.losses.iou_loss import IouLoss  # noqa: F401
