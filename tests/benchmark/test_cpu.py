"""The CPU description written into every latency report."""
from ppdet.benchmark.cpu import int8_isa


def test_int8_isa_names_vnni_or_its_absence():
    assert int8_isa({'avx', 'avx2', 'fma'}) == 'AVX2, no VNNI'
    assert int8_isa({'avx2', 'avx512f', 'avx512_vnni', 'amx_int8'}) == \
        'AVX2, AVX-512, AVX512-VNNI, AMX-INT8'
    assert int8_isa(set()) == 'no VNNI'
