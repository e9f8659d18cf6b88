"""The architecture table against the seed's GFLOPs and sizes."""
import os

from ppdet.benchmark.architecture import architecture_stats, format_architecture_table

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_architecture_table_mobilenet_v1_matches_the_seed():
    rows = architecture_stats(os.path.join(ROOT, 'configs', 'yolov3_mobilenet_v1.yml'),
                              strategies=('baseline', 'r578'), sizes=(320,))
    base, r578 = rows
    assert abs(base['gflops'] - 5.72) <= 0.05 * 5.72
    assert abs(r578['gflops'] - 1.74) <= 0.05 * 1.74
    assert abs(base['size_mb_blocks'] - 94.60) <= 0.05 * 94.60
    assert base['gflops_all'] == base['gflops']          # no deformable convs
    table = format_architecture_table(rows)
    assert '| yolov3_mobilenet_v1 | baseline | 320 | 5.72 | 5.72 |' in table
    assert '-69.64% / -69.58%' in table                  # our cut / the seed's
