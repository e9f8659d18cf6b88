from .trainer import Trainer, build_model  # noqa: F401
