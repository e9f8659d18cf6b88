"""Peak resident memory of a process (this one, or a runtime's worker process).

Its own module so that the predictors, the Paddle-Lite worker client and the timing
helpers can all use it without importing one another.
"""
import os

__all__ = ['peak_rss_mb']


def peak_rss_mb(pid=None):
    """Peak resident memory (VmHWM) of ``pid`` (default: this process) in MiB.

    Without /proc (not Linux) it falls back to this process's own peak (getrusage).
    """
    try:
        with open('/proc/%d/status' % (pid or os.getpid())) as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
