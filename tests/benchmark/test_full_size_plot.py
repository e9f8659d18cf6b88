"""ppdet/benchmark/full_size_plot.py on the committed full-size tables (real runs): the bars
are the tables' ratios, one CPU's two files merge, and nothing to draw is said."""
import json
import os

import pytest

from ppdet.benchmark.full_size_plot import plot_speedups, row_label, speedups

RESULTS = os.path.join(os.path.dirname(__file__), '..', '..', 'benchmarks', 'results')
AMX = os.path.join(RESULTS, 'amx_cpu', 'quick_1206_run2', 'full_size_latency_quick.json')
VNNI = [os.path.join(RESULTS, 'second_cpu', 'quick_1205', s, 'full_size_latency_quick.json')
        for s in ('320', '608')]


def _load(path):
    with open(path) as f:
        return json.load(f)


def test_bars_are_the_tables_ratios():
    amx = _load(AMX)
    bars = speedups([('AMX', amx)])
    assert list(bars) == [('yolov3_mobilenet_v1', 320), ('yolov3_mobilenet_v1', 608)]
    for group in amx['groups']:
        panel = bars[(group['config'], group['input_size'])]
        drawn = {c['row'] for c in group['cells'].values() if c['runtime'] == 'paddle'
                 and c['fuse_preprocess'] and not (c['strategy'] == 'baseline' and not c['int8'])}
        assert len(panel) == len(drawn) == 10
        for c in group['cells'].values():
            if c['runtime'] == 'paddle' and c['row'] in drawn:
                assert panel[row_label(c)]['AMX'] == (c['ratio'], *c['ratio_interval'])
        labels = list(panel)        # the fp32 pruned rows, then the int8 ones in that order
        assert labels[:5] == ['r578', 'r578@32', 'r578@8', 'sensity', 'int8']
        assert labels[5:] == ['r578 + int8', 'r578@32 + int8', 'r578@8 + int8',
                              'sensity + int8', 'r578 + int8, output convs int8']
    # the README's figures: r578@32 + int8 8.32x at 608 on the AMX CPU
    assert round(bars[('yolov3_mobilenet_v1', 608)]['r578@32 + int8']['AMX'][0], 2) == 8.32


def test_one_label_merges_its_files_and_the_chart_is_written(tmp_path):
    runs = [('VNNI', _load(VNNI[0])), ('VNNI', _load(VNNI[1])), ('AMX', _load(AMX))]
    png = str(tmp_path / 'sub' / 'chart.png')
    bars = plot_speedups(runs, png, title='t')
    for panel in bars.values():
        assert all(list(per) == ['VNNI', 'AMX'] for per in panel.values())
    assert round(bars[('yolov3_mobilenet_v1', 320)]['r578@32 + int8']['VNNI'][0], 2) == 6.45
    with open(png, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert os.listdir(os.path.dirname(png)) == ['chart.png']     # no temporary file left


def test_nothing_to_draw_is_said(tmp_path):
    with pytest.raises(ValueError, match='no rows of paddle at 2 thread'):
        plot_speedups([('AMX', _load(AMX))], str(tmp_path / 'x.png'), threads=2)
    assert not os.path.exists(str(tmp_path / 'x.png'))


def test_bf16_rows_are_drawn_after_paddles_rows_when_asked():
    families = _load(os.path.join(RESULTS, 'amx_cpu', 'families_1206', 'full_size_latency.json'))
    panel = speedups([('AMX', families)], ('paddle', 'paddle_bf16'))[('retinanet_r50_fpn', 800)]
    labels = list(panel)
    assert labels.index('bf16') > labels.index('int8')
    # the README's RetinaNet finding on this CPU: bf16 5.41x against int8 3.68x
    assert round(panel['bf16']['AMX'][0], 2) == 5.41 and round(panel['int8']['AMX'][0], 2) == 3.68
    assert round(panel['uniform_p40@32 + bf16']['AMX'][0], 2) == 7.68
    assert 'bf16' not in speedups([('AMX', families)])[('retinanet_r50_fpn', 800)]
