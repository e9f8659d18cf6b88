"""A pipeline-style results.json row, for the benchmark tests."""

FAST = dict(warmup=1, repeats=3, pause_s=0.005, lite_repeats=1)  # latency_sweep, quickly


def result_row(model_dir, ap, gflops, size=128, **kw):
    row = {'GFLOPs': gflops, 'size_MB': 1.0 + gflops, 'AP': ap, 'AP50': ap + 0.2,
           'input_size': size}
    if model_dir:
        row['inference_dir'] = model_dir
    row.update(kw)
    return row
