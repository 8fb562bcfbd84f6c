#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
# Replays a cantus-train run in PyTorch: `cantus-train ... --dropout 0
# --dump-chunks run.bin` writes the initial weights, every chunk (tokens,
# targets, styles, positions) and its loss and learning rate; this script
# trains the same network (written out by hand: embedding + style + one-hot
# positions, LSTM gates i,f,g,o with one bias, START resets a row, state
# carried across chunks) with torch.optim.AdamW (weight decay on the weight
# matrices only), clipping and the same rates, and compares the losses step
# by step.  An independent check that the C trainer optimises exactly like
# PyTorch, not only that one gradient matches.  Not run by CI.
# Usage: /usr/bin/python3 tests/ref/replay_train.py run.bin [--double]
import struct
import sys

import torch

path = sys.argv[1]
dt = torch.float64 if '--double' in sys.argv else torch.float32
d = open(path, 'rb').read()
o = 0
hdr = struct.unpack_from('<16i', d, o)
o += 64
clip, wd, b1, b2 = struct.unpack_from('<4f', d, o)
o += 16
assert hdr[0] == 0x48435443 and hdr[1] == 1, 'not a --dump-chunks file'
L, H, E, S, NS, plo, phi, nsh, tpq, NB, B, T, n_params = hdr[2:15]
NP = phi - plo + 1
V = 2 + 2 * NP + nsh
NT = tpq
I0 = E + S + NT + NB
R = B * T
shapes = [(V, E), (NS, S)]
for k in range(L):
    shapes += [(4 * H, I0 if k == 0 else H), (4 * H, H), (4 * H,)]
shapes += [(V, H), (V,)]
P = []
for s in shapes:
    n = torch.Size(s).numel()
    P.append(torch.tensor(struct.unpack_from('<%df' % n, d, o), dtype=dt).reshape(s).requires_grad_())
    o += 4 * n
decay = [P[2 + 3 * k] for k in range(L)] + [P[3 + 3 * k] for k in range(L)] + [P[-2]]
no_decay = [p for p in P if all(p is not q for q in decay)]
opt = torch.optim.AdamW([{'params': decay, 'weight_decay': wd},
                         {'params': no_decay, 'weight_decay': 0.0}], lr=1e-3, betas=(b1, b2),
                        eps=1e-8)
h = [torch.zeros(B, H, dtype=dt) for _ in range(L)]
c = [torch.zeros(B, H, dtype=dt) for _ in range(L)]
step = 0
worst = 0.0
c_losses, t_losses = [], []
while o < len(d):
    ch = torch.tensor(struct.unpack_from('<%di' % (5 * R), d, o)).reshape(T, B, 5)
    o += 20 * R
    c_loss, lr = struct.unpack_from('<2d', d, o)
    o += 16
    tok, tgt, sty, pt, pb = (ch[:, :, i] for i in range(5))
    h = [x.detach() for x in h]
    c = [x.detach() for x in c]
    logits = []
    for t in range(T):
        keep = (tok[t] != 0).to(dt).unsqueeze(1)
        x = torch.cat([P[0][tok[t]], P[1][sty[t]],
                       torch.nn.functional.one_hot(pt[t], NT).to(dt),
                       torch.nn.functional.one_hot(pb[t], NB).to(dt)], 1)
        for k in range(L):
            w_ih, w_hh, b = P[2 + 3 * k:5 + 3 * k]
            pre = x @ w_ih.T + (h[k] * keep) @ w_hh.T + b
            i = torch.sigmoid(pre[:, :H])
            f = torch.sigmoid(pre[:, H:2 * H])
            g = torch.tanh(pre[:, 2 * H:3 * H])
            og = torch.sigmoid(pre[:, 3 * H:])
            c[k] = f * c[k] * keep + i * g
            h[k] = og * torch.tanh(c[k])
            x = h[k]
        logits.append(x @ P[-2].T + P[-1])
    loss = torch.nn.functional.cross_entropy(torch.stack(logits).reshape(R, V), tgt.reshape(-1),
                                             ignore_index=-1)
    opt.zero_grad()
    loss.backward()
    if clip > 0:
        torch.nn.utils.clip_grad_norm_(P, clip)
    for grp in opt.param_groups:
        grp['lr'] = lr
    opt.step()
    step += 1
    c_losses.append(c_loss)
    t_losses.append(loss.item())
    worst = max(worst, abs(loss.item() - c_loss))
    if step % 25 == 0:
        print('step %5d  lr %.2e  cantus-train %.5f  pytorch %.5f' % (step, lr, c_loss, loss.item()))
n = max(1, len(c_losses) // 5)
cm, tm = sum(c_losses[-n:]) / n, sum(t_losses[-n:]) / n
print('%d steps; largest per-step loss difference %.2e; mean of the last %d steps: '
      'cantus-train %.5f, pytorch %.5f (%.3f%% apart)' % (step, worst, n, cm, tm,
                                                           100 * abs(cm - tm) / tm))
