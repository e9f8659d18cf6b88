from ppdet.modeling.losses.yolo_loss import YOLOv3Loss  # noqa: F401
