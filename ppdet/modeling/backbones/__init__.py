from ppdet.modeling.backbones.mobilenet_v1 import MobileNetV1  # noqa: F401
from ppdet.modeling.backbones.resnet import ResNet  # noqa: F401
from ppdet.modeling.backbones.mediapipe_blazenet import MediaPipeBlazeNet  # noqa: F401
from ppdet.modeling.backbones.blazenet import BlazeNet  # noqa: F401
from ppdet.modeling.backbones.mobilenet_v3 import MobileNetV3  # noqa: F401
from ppdet.modeling.backbones.efficientnet import EfficientNet  # noqa: F401
