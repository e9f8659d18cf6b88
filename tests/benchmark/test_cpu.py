"""The CPU description written into every latency report."""
from ppdet.benchmark.cpu import bf16_isa, has_native_bf16, int8_isa


def test_int8_isa_names_vnni_or_its_absence():
    assert int8_isa({'avx', 'avx2', 'fma'}) == 'AVX2, no VNNI'
    assert int8_isa({'avx2', 'avx512f', 'avx512_vnni', 'amx_int8'}) == \
        'AVX2, AVX-512, AVX512-VNNI, AMX-INT8'
    assert int8_isa(set()) == 'no VNNI'


def test_bf16_isa_names_native_bf16_or_its_absence():
    assert bf16_isa({'avx2', 'avx512f', 'avx512_vnni'}) == 'no BF16'
    assert bf16_isa({'avx512f', 'avx512_bf16'}) == 'AVX512-BF16'
    assert bf16_isa({'avx512_bf16', 'amx_bf16', 'amx_int8'}) == 'AVX512-BF16, AMX-BF16'
    assert has_native_bf16(['amx_bf16']) and not has_native_bf16(['avx512f', 'avx512_vnni'])
