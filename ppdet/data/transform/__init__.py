from . import batch_operators, operators  # noqa: F401  (registers the transforms)
from .batch_operators import *  # noqa: F401,F403
from .operators import *  # noqa: F401,F403
