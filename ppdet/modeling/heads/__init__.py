from ppdet.modeling.heads.yolo_head import YOLOv3Head  # noqa: F401
