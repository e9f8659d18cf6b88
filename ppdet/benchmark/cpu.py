"""What the CPU is, in the terms int8 speed depends on (written into every latency report)."""
import platform

__all__ = ['cpu_description', 'int8_isa']


def cpu_description():
    """The CPU model plus the instruction sets int8 speed depends on (VNNI, AMX): oneDNN's
    int8 kernels gain much more on a CPU with them than on a plain AVX2 one."""
    name, flags = None, set()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name') and name is None:
                    name = line.split(':', 1)[1].strip()
                elif line.startswith('flags') and not flags:
                    flags = set(line.split(':', 1)[1].split())
    except OSError:
        pass
    name = name or platform.processor() or platform.machine()
    return '%s; %s' % (name, int8_isa(flags)) if flags else name


def int8_isa(flags):
    """'AVX2, no VNNI' / 'AVX-512, AVX512-VNNI, AMX-INT8' ... from /proc/cpuinfo flags."""
    have = [label for flag, label in (('avx2', 'AVX2'), ('avx512f', 'AVX-512'),
                                      ('avx512_vnni', 'AVX512-VNNI'), ('avx_vnni', 'AVX-VNNI'),
                                      ('amx_int8', 'AMX-INT8')) if flag in flags]
    if not any('VNNI' in h for h in have):
        have.append('no VNNI')
    return ', '.join(have)
