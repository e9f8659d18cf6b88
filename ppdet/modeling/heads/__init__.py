from ppdet.modeling.heads.yolo_head import YOLOv3Head  # noqa: F401
from ppdet.modeling.heads.face_head import FaceHead  # noqa: F401
from ppdet.modeling.heads.retina_head import RetinaHead  # noqa: F401
from ppdet.modeling.heads.fcos_head import FCOSHead  # noqa: F401
