"""The decode convs as matmuls (measured, not adopted): each 1x1 decode conv (padded to 256
filters, + bias, sliced back to 255) -> X reshaped to [B, ic, HW], matmul(W [1, 255, ic], X),
+ bias [1, 255, 1], reshaped to [B, 255, H, W]; so the head map comes out in NCHW without
oneDNN's reorder.  Usage: python decode_matmul.py SRC_MODEL_DIR DST_MODEL_DIR"""
import shutil, sys
from ppdet.deploy import program_fixes as pf
from ppdet.utils.static_graph import op_producers

src, dst = sys.argv[1], sys.argv[2]
shutil.rmtree(dst, ignore_errors=True)
shutil.copytree(src, dst)

def step(block, scope):
    producers = op_producers(block)
    n = 0
    for dec in [o for o in block.ops if o.type == 'yolo_box']:
        sl = producers[dec.input('X')[0]]
        assert sl.type == 'slice', sl.type
        add = producers[sl.input('Input')[0]]
        conv = producers[add.input('X')[0]]
        assert conv.type == 'conv2d', conv.type
        c = int(sl.attr('ends')[0])
        W = pf._tensor(scope, conv.input('Filter')[0])
        b = pf._tensor(scope, add.input('Y')[0])
        x = conv.input('Input')[0]
        ic = W.shape[1]
        outv = block.var(sl.output('Out')[0])
        h, w = outv.shape[2], outv.shape[3]
        wv = pf._param(block, scope, conv.input('Filter')[0] + '.mat', W[None, :c, :, 0, 0])
        bv = pf._param(block, scope, add.input('Y')[0] + '.mat', b[None, :c, None])
        i = pf._op_index(block, conv)
        xr = block.create_var(name=x + '.rows', dtype='float32', shape=[-1, ic, h * w])
        xs = block.create_var(name=x + '.rows_xshape', dtype='float32', shape=[0, -1, ic, h * w])
        y = block.create_var(name=x + '.mm', dtype='float32', shape=[-1, c, h * w])
        yb = block.create_var(name=x + '.mmb', dtype='float32', shape=[-1, c, h * w])
        ys = block.create_var(name=x + '.mmb_xshape', dtype='float32', shape=[0, -1, c, h * w])
        out = sl.output('Out')[0]
        for j in (pf._op_index(block, sl), pf._op_index(block, add), pf._op_index(block, conv)):
            block._remove_op(j)
        block._insert_op(i, type='reshape2', inputs={'X': [x]},
                         outputs={'Out': [xr], 'XShape': [xs]}, attrs={'shape': [0, ic, h * w]})
        block._insert_op(i + 1, type='matmul_v2', inputs={'X': [wv], 'Y': [xr]},
                         outputs={'Out': [y]}, attrs={'trans_x': False, 'trans_y': False})
        block._insert_op(i + 2, type='elementwise_add', inputs={'X': [y], 'Y': [bv]},
                         outputs={'Out': [yb]}, attrs={'axis': -1})
        block._insert_op(i + 3, type='reshape2', inputs={'X': [yb]},
                         outputs={'Out': [block.var(out)], 'XShape': [ys]},
                         attrs={'shape': [0, c, h, w]})
        n += 1
    return n

print('rewritten', pf._rewritten(dst, step))
