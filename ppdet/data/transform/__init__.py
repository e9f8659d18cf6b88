from . import batch_operators, operators  # noqa: F401  (registers the transforms)
from .batch_operators import *  # noqa: F401,F403
from .operators import *  # noqa: F401,F403
from .stitch import Stitch  # noqa: F401
from .autoaugment import AutoAugment  # noqa: F401
