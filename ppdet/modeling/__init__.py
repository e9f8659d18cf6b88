"""Models: importing this package registers every component with the workspace."""
from ppdet.modeling import ops  # noqa: F401
from ppdet.modeling import backbones, necks, heads, losses  # noqa: F401
from ppdet.modeling import post_process  # noqa: F401
from ppdet.modeling import architectures  # noqa: F401
