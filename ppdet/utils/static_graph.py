"""Working with saved Paddle inference programs from dygraph code.

``static_mode()`` switches Paddle to static mode for a block and back (a Program's ops are
built in static mode only); ``read_program(path)`` parses a saved program without its
parameters; ``load_program(model_dir)`` loads ``model_dir/model`` in its
own scope and ``save_program`` writes one back; ``op_producers`` / ``op_consumers`` map a
block's var names to the ops writing / reading them; ``forget_failed_traces()`` runs before
every ``jit.save`` of a dygraph layer (see its doc).
"""
import contextlib
import os

import paddle

__all__ = ['static_mode', 'read_program', 'load_program', 'save_program', 'op_producers',
           'op_consumers', 'remove_ops', 'forget_failed_traces']


@contextlib.contextmanager
def static_mode():
    was_dynamic = paddle.in_dynamic_mode()
    paddle.enable_static()
    try:
        yield
    finally:
        if was_dynamic:
            paddle.disable_static()


def read_program(path):
    """The program saved in ``path`` (a ``.pdmodel``), parsed without its parameters."""
    with static_mode():
        with open(str(path), 'rb') as f:
            return paddle.static.Program.parse_from_string(f.read())


def load_program(model_dir):
    """-> (program, feed names, fetch vars, scope) of an inference model directory."""
    with static_mode():
        scope = paddle.static.Scope()
        exe = paddle.static.Executor(paddle.CPUPlace())
        with paddle.static.scope_guard(scope):
            prog, feeds, fetches = paddle.static.load_inference_model(
                os.path.join(str(model_dir), 'model'), exe)
    return prog, feeds, fetches, scope


def save_program(model_dir, prog, feeds, fetches, scope):
    """Save ``prog`` (as :func:`load_program` returned it, maybe rewritten; its parameters
    in ``scope``) as ``model_dir/model``, feeding ``feeds`` (names) and fetching
    ``fetches`` (vars); what no fetch needs is pruned."""
    with static_mode():
        block = prog.global_block()
        exe = paddle.static.Executor(paddle.CPUPlace())
        with paddle.static.scope_guard(scope):
            paddle.static.save_inference_model(
                os.path.join(str(model_dir), 'model'), [block.var(n) for n in feeds],
                list(fetches), exe, program=prog)


def op_producers(block):
    """var name -> the op of ``block`` that writes it."""
    out = {}
    for op in block.ops:
        for name in op.output_arg_names:
            out[name] = op
    return out


def op_consumers(block):
    """var name -> the ops of ``block`` that read it, in order."""
    out = {}
    for op in block.ops:
        for name in op.input_arg_names:
            out.setdefault(name, []).append(op)
    return out


def remove_ops(block, ops, with_outputs=True):
    """Remove ``ops`` from ``block``, and (``with_outputs``) the vars they write."""
    # names first: a removed op's desc is freed (reading it afterwards crashes)
    outputs = [name for op in ops for name in op.output_arg_names] if with_outputs else []
    ids = {id(op) for op in ops}
    for i in reversed(range(len(block.ops))):
        if id(block.ops[i]) in ids:
            block._remove_op(i)
    for name in outputs:
        if block.has_var(name):
            block._remove_var(name)


def forget_failed_traces():
    """Drop the parameter records that traces which raised left in Paddle 2.6's dy2static.

    While tracing, ``ProgramTranslator._params_recorder`` collects the parameters a program
    touches under ``id(program)`` and pops them when the trace returns; a trace that raises
    never pops (``program_translator.py``, ``ConcreteProgram.from_func_spec``).  A later
    program that gets the same id then inherits parameters of a model that is gone, and
    ``jit.save`` fails with a ``KeyError`` on one of them ('batch_norm2d_40.b_0' and
    'batch_norm2d_1635.w_1' in CI; which earlier trace had raised was not identified).
    Call it with no trace running.
    """
    from paddle.jit.dy2static.program_translator import ProgramTranslator
    translator = ProgramTranslator.get_instance()
    for name in ('_params_recorder', '_inplace_map'):
        records = getattr(getattr(translator, name, None), 'params_dict', None)
        if isinstance(records, dict):
            records.clear()
