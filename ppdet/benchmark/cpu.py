"""What the CPU is, in the terms int8 speed depends on (written into every latency report)."""
import platform

import os

__all__ = ['cpu_description', 'cpu_flags', 'int8_isa', 'bf16_isa', 'has_native_bf16',
           'heap_huge_pages']


def _cpuinfo():
    """(model name or None, the flags line's words) from /proc/cpuinfo."""
    name, flags = None, []
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name') and name is None:
                    name = line.split(':', 1)[1].strip()
                elif line.startswith('flags') and not flags:
                    flags = line.split(':', 1)[1].split()
    except OSError:
        pass
    return name, flags


def cpu_description():
    """The CPU model plus the instruction sets int8 and bf16 speed depend on (VNNI, AMX,
    AVX512-BF16): oneDNN's int8 kernels gain much more on a CPU with VNNI than on a plain
    AVX2 one, and bf16 is only fast where the CPU computes it natively."""
    name, flags = _cpuinfo()
    name = name or platform.processor() or platform.machine()
    if not flags:
        return name
    flags = set(flags)
    return '%s; %s; %s' % (name, int8_isa(flags), bf16_isa(flags))


def cpu_flags():
    """The CPU model name and its full /proc/cpuinfo flags line (for a result file)."""
    name, flags = _cpuinfo()
    return {'model': name, 'flags': ' '.join(flags), 'summary': cpu_description(),
            'cpu_count': os.cpu_count(), 'huge_pages': heap_huge_pages()}


THP_ENABLED = '/sys/kernel/mm/transparent_hugepage/enabled'


def heap_huge_pages(thp_file=THP_ENABLED, environ=None):
    """Whether this process's heap is in 2 MB pages, in words (a latency report's condition:
    on the AMX Xeon huge pages made every full-size YOLOv3 row 2-4% faster,
    docs/full_size_latency.md).  The kernel's THP mode ``always`` gives them to every
    process; ``madvise`` only to memory that asks, which glibc >= 2.35's malloc does with
    ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` set before the process starts."""
    environ = os.environ if environ is None else environ
    try:
        with open(thp_file) as f:
            words = f.read().split()
        mode = next(w.strip('[]') for w in words if w.startswith('['))
    except (OSError, StopIteration):
        return 'unknown (no %s)' % thp_file
    tunables = environ.get('GLIBC_TUNABLES', '')
    # (=2 asks for reserved hugetlbfs pages instead, which a host rarely has: not counted)
    asked = 'glibc.malloc.hugetlb=1' in [t.strip() for t in tunables.split(':')]
    if mode == 'always':
        return 'yes (THP always)'
    if mode == 'madvise' and asked:
        return 'yes (THP madvise, GLIBC_TUNABLES=%s)' % tunables
    if mode == 'madvise':
        return 'no (THP madvise: GLIBC_TUNABLES=glibc.malloc.hugetlb=1 would give them)'
    return 'no (THP %s)' % mode


def int8_isa(flags):
    """'AVX2, no VNNI' / 'AVX-512, AVX512-VNNI, AMX-INT8' ... from /proc/cpuinfo flags."""
    have = [label for flag, label in (('avx2', 'AVX2'), ('avx512f', 'AVX-512'),
                                      ('avx512_vnni', 'AVX512-VNNI'), ('avx_vnni', 'AVX-VNNI'),
                                      ('amx_int8', 'AMX-INT8')) if flag in flags]
    if not any('VNNI' in h for h in have):
        have.append('no VNNI')
    return ', '.join(have)


# /proc/cpuinfo flags of native bf16 arithmetic, with their names
BF16_FLAGS = (('avx512_bf16', 'AVX512-BF16'), ('amx_bf16', 'AMX-BF16'))


def bf16_isa(flags):
    """'AVX512-BF16' / 'AVX512-BF16, AMX-BF16' / 'no BF16' from /proc/cpuinfo flags."""
    return ', '.join(label for flag, label in BF16_FLAGS if flag in flags) or 'no BF16'


def has_native_bf16(flags=None):
    """Whether this CPU (or one with /proc/cpuinfo ``flags``) computes bf16 natively."""
    flags = set(_cpuinfo()[1] if flags is None else flags)
    return any(flag in flags for flag, _ in BF16_FLAGS)
