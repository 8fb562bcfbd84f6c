#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
# Writes tests/data/train_ref.bin: the PyTorch reference for the trainer's
# batched forward and backward (models/train/lstm_train.c).  Run once with
# Debian's python3-torch (/usr/bin/python3 tests/ref/gen_train_ref.py); the
# output is committed and CI never runs this script.
#
# The model is the one of DESIGN.md written out by hand in float64: layer-0
# input [tok_emb[tok] | style_emb[style] | onehot(pos_tick) | onehot(pos_beat)],
# L LSTM layers with gate order i,f,g,o and one bias b = b_ih + b_hh, a linear
# output layer, softmax cross-entropy averaged over the scored targets.
# A row whose input token is START (0) restarts from zero state; the chunk
# starts from a non-zero carried state.  No dropout.
#
# File layout (little-endian):
#   int32 magic 0x46525443 ('CTRF'), version 1
#   int32 L, H, E, S, NS, pitch_lo, pitch_hi, n_shift, tpq, n_pos_beat, B, T
#   float32 parameters tensor by tensor in file order: tok_emb (V,E),
#     style_emb (NS,S), per layer w_ih (4H,I), w_hh (4H,H), b (4H); w_out (V,H), b_out (V)
#   float32 initial state: per layer h (B,H), c (B,H)
#   int32 tok, tgt (-1 = not scored), style, pos_tick, pos_beat: each (T*B), row t*B+b
#   float32 logits (T*B, V); float32 loss; float32 gradients (as the parameters);
#   float32 final state (as the initial state)
import os
import struct
import sys

import torch

torch.manual_seed(1234)
L, H, E, S, NS = 2, 16, 8, 4, 3
pitch_lo, pitch_hi, n_shift, tpq, n_pos_beat = 60, 67, 8, 4, 4
B, T = 3, 6
n_pitch = pitch_hi - pitch_lo + 1
V = 2 + 2 * n_pitch + n_shift
NT = tpq
I0 = E + S + NT + n_pos_beat
dt = torch.float64


def u(*shape, scale=0.5):
    return ((torch.rand(*shape, dtype=dt) * 2 - 1) * scale).requires_grad_()


tok_emb = u(V, E)
style_emb = u(NS, S)
layers = []
for k in range(L):
    i_w = I0 if k == 0 else H
    layers.append((u(4 * H, i_w), u(4 * H, H), u(4 * H)))
w_out = u(V, H)
b_out = u(V, scale=0.2)
params = [tok_emb, style_emb]
for w_ih, w_hh, b in layers:
    params += [w_ih, w_hh, b]
params += [w_out, b_out]

h0 = [(torch.rand(B, H, dtype=dt) - 0.5) for _ in range(L)]
c0 = [(torch.rand(B, H, dtype=dt) - 0.5) * 2 for _ in range(L)]

g = torch.Generator().manual_seed(99)
tok = torch.randint(1, V, (T, B), generator=g)
tok[0, 0] = 0   # row 0 starts a piece at t=0
tok[3, 1] = 0   # row 1 starts a new piece mid-chunk
tgt = torch.randint(1, V, (T, B), generator=g)
tgt[2, 1] = -1  # the END -> START boundary is not scored
tgt[5, 2] = -1
style = torch.randint(0, NS, (T, B), generator=g)
pos_tick = torch.randint(0, NT, (T, B), generator=g)
pos_beat = torch.randint(0, n_pos_beat, (T, B), generator=g)

h = [x.clone() for x in h0]
c = [x.clone() for x in c0]
logits_all = []
for t in range(T):
    keep = (tok[t] != 0).to(dt).unsqueeze(1)
    x = torch.cat([tok_emb[tok[t]], style_emb[style[t]],
                   torch.nn.functional.one_hot(pos_tick[t], NT).to(dt),
                   torch.nn.functional.one_hot(pos_beat[t], n_pos_beat).to(dt)], dim=1)
    for k, (w_ih, w_hh, b) in enumerate(layers):
        hp, cp = h[k] * keep, c[k] * keep
        pre = x @ w_ih.T + hp @ w_hh.T + b
        i = torch.sigmoid(pre[:, 0:H])
        f = torch.sigmoid(pre[:, H:2 * H])
        gg = torch.tanh(pre[:, 2 * H:3 * H])
        o = torch.sigmoid(pre[:, 3 * H:4 * H])
        c[k] = f * cp + i * gg
        h[k] = o * torch.tanh(c[k])
        x = h[k]
    logits_all.append(x @ w_out.T + b_out)
logits = torch.stack(logits_all).reshape(T * B, V)
flat_tgt = tgt.reshape(T * B)
loss = torch.nn.functional.cross_entropy(logits, flat_tgt, ignore_index=-1, reduction='mean')
loss.backward()

out = bytearray()
out += struct.pack('<2i', 0x46525443, 1)
out += struct.pack('<12i', L, H, E, S, NS, pitch_lo, pitch_hi, n_shift, tpq, n_pos_beat, B, T)


def f32(t):
    return struct.pack('<%df' % t.numel(), *t.detach().reshape(-1).tolist())


def i32(t):
    return struct.pack('<%di' % t.numel(), *t.reshape(-1).tolist())


for p in params:
    out += f32(p)
for k in range(L):
    out += f32(h0[k]) + f32(c0[k])
for a in (tok, tgt, style, pos_tick, pos_beat):
    out += i32(a)
out += f32(logits)
out += struct.pack('<f', loss.item())
for p in params:
    out += f32(p.grad)
for k in range(L):
    out += f32(h[k]) + f32(c[k])

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data', 'train_ref.bin')
with open(path, 'wb') as fh:
    fh.write(out)
print('wrote %s (%d bytes), loss %.6f, torch %s' % (os.path.normpath(path), len(out), loss.item(),
                                                    torch.__version__), file=sys.stderr)
