"""Resident memory of a process (this one, or a runtime's worker process) and the
memory the machine has left.

Its own module so that the predictors, the Paddle-Lite worker client and the timing
helpers can all use it without importing one another.
"""
import os

__all__ = ['peak_rss_mb', 'rss_mb', 'available_mb']


def _kib_field(path, field):
    """The ``field: N kB`` line of a /proc file in MiB, or None (no such file or line)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def peak_rss_mb(pid=None):
    """Peak resident memory (VmHWM) of ``pid`` (default: this process) in MiB.

    Without /proc (not Linux) it falls back to this process's own peak (getrusage).
    """
    peak = _kib_field('/proc/%d/status' % (pid or os.getpid()), 'VmHWM')
    if peak is not None:
        return peak
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mb(pid=None):
    """Resident memory now (VmRSS) of ``pid`` (default: this process) in MiB; 0 without /proc."""
    return _kib_field('/proc/%d/status' % (pid or os.getpid()), 'VmRSS') or 0.0


def available_mb():
    """Memory the machine can still give without swapping (MemAvailable) in MiB; None
    where /proc/meminfo does not say."""
    return _kib_field('/proc/meminfo', 'MemAvailable')
