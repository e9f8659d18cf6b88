import logging
import sys

_configured = False


def setup_logger(name='ppdet'):
    global _configured
    logger = logging.getLogger(name)
    if not _configured:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter('[%(asctime)s] %(name)s %(levelname)s: %(message)s',
                                               datefmt='%m/%d %H:%M:%S'))
        logging.getLogger('ppdet').addHandler(handler)
        logging.getLogger('ppdet').setLevel(logging.INFO)
        logging.getLogger('ppdet').propagate = False
        _configured = True
    return logger
