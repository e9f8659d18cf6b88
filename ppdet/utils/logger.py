import logging
import os
import sys

_configured = False
_FORMAT = logging.Formatter('[%(asctime)s] %(name)s %(levelname)s: %(message)s',
                            datefmt='%m/%d %H:%M:%S')


def setup_logger(name='ppdet'):
    global _configured
    logger = logging.getLogger(name)
    if not _configured:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(_FORMAT)
        logging.getLogger('ppdet').addHandler(handler)
        logging.getLogger('ppdet').setLevel(logging.INFO)
        logging.getLogger('ppdet').propagate = False
        _configured = True
    return logger


def add_log_file(path):
    """Also write the ppdet log to ``path`` (the config's ``log_file``), appending."""
    path = os.path.abspath(path)
    root = setup_logger('ppdet')
    if not any(getattr(h, 'baseFilename', None) == path for h in root.handlers):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handler = logging.FileHandler(path, encoding='utf-8')
        handler.setFormatter(_FORMAT)
        root.addHandler(handler)
    return path
