"""The CPU description written into every latency report."""
import pytest

from ppdet.benchmark.cpu import bf16_isa, has_native_bf16, heap_huge_pages, int8_isa


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


@pytest.mark.parametrize('enabled, tunables, said', [
    ('always [madvise] never', 'glibc.malloc.hugetlb=1',
     'yes (THP madvise, GLIBC_TUNABLES=glibc.malloc.hugetlb=1)'),
    ('always [madvise] never', 'glibc.malloc.check=3:glibc.malloc.hugetlb=1',
     'yes (THP madvise, GLIBC_TUNABLES=glibc.malloc.check=3:glibc.malloc.hugetlb=1)'),
    ('always [madvise] never', None,
     'no (THP madvise: GLIBC_TUNABLES=glibc.malloc.hugetlb=1 would give them)'),
    ('always [madvise] never', 'glibc.malloc.hugetlb=0',
     'no (THP madvise: GLIBC_TUNABLES=glibc.malloc.hugetlb=1 would give them)'),
    ('[always] madvise never', None, 'yes (THP always)'),
    ('always madvise [never]', 'glibc.malloc.hugetlb=1', 'no (THP never)'),
])
def test_heap_huge_pages_reads_the_kernel_mode_and_the_tunable(tmp_path, enabled, tunables,
                                                               said):
    f = tmp_path / 'enabled'
    f.write_text(enabled + '\n')
    env = {} if tunables is None else {'GLIBC_TUNABLES': tunables}
    assert heap_huge_pages(str(f), env) == said
    assert heap_huge_pages(str(tmp_path / 'none'), env).startswith('unknown (no ')


def test_this_machine_says_something_and_result_files_record_it():
    from ppdet.benchmark.cpu import cpu_flags
    assert cpu_flags()['huge_pages'] == heap_huge_pages()
    assert heap_huge_pages().split()[0] in ('yes', 'no', 'unknown')
