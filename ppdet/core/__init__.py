from .workspace import (register, create, load_config, merge_config,  # noqa: F401
                        apply_overrides, get_registered, ConfigError, AttrDict)
