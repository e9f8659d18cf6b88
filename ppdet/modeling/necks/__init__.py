from ppdet.modeling.necks.yolo_fpn import YOLOv3FPN  # noqa: F401
from ppdet.modeling.necks.bifpn import BiFPN  # noqa: F401
from ppdet.modeling.necks.two_way_fpn import TwoWayFPN  # noqa: F401
from ppdet.modeling.necks.pconv import PConvFPN  # noqa: F401
from ppdet.modeling.necks.fpn import FPN  # noqa: F401
