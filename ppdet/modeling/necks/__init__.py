from ppdet.modeling.necks.yolo_fpn import YOLOv3FPN  # noqa: F401
