"""Relative change in percent, as every benchmark table prints it."""

__all__ = ['percent_change']


def percent_change(new, old):
    """100 * (new - old) / old; NaN when there is no ``old`` to compare with."""
    return 100.0 * (new - old) / old if old else float('nan')
