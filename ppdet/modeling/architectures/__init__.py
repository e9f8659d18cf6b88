from ppdet.modeling.architectures.meta_arch import BaseArch, NotDeclared  # noqa: F401
from ppdet.modeling.architectures.yolov3 import YOLOv3  # noqa: F401
from ppdet.modeling.architectures.inference_model import InferenceModel  # noqa: F401
from ppdet.modeling.architectures.mediapipe_blazeface import MediaPipeBlazeFace  # noqa: F401
from ppdet.modeling.architectures.blazeface import BlazeFace  # noqa: F401
from ppdet.modeling.architectures.retinanet import RetinaNet  # noqa: F401
from ppdet.modeling.architectures.fcos import FCOS  # noqa: F401
