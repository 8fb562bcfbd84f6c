#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
# PyTorch CPU twin of `cantus-train --bench` for `make bench-train`: the same
# network (token embedding 64 + style 16 + one-hot positions 12 + 8, two
# LSTM layers, dropout between layers and before the output, linear output
# over 300 tokens), truncated BPTT with the state carried, Adam with
# clipping at 1.0, on random tokens.  Prints one line with tokens/s.
# Usage: bench_torch.py [--hidden N] [--layers N] [--batch N] [--bptt N]
#                       [--threads N] [--steps N] [--dropout X]
import argparse
import time

import torch

ap = argparse.ArgumentParser()
ap.add_argument('--hidden', type=int, default=256)
ap.add_argument('--layers', type=int, default=2)
ap.add_argument('--batch', type=int, default=32)
ap.add_argument('--bptt', type=int, default=64)
ap.add_argument('--threads', type=int, default=1)
ap.add_argument('--steps', type=int, default=20)
ap.add_argument('--dropout', type=float, default=0.1)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(1)
V, E, S, NS, NT, NB = 300, 64, 16, 8, 12, 8


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(V, E)
        self.style = torch.nn.Embedding(NS, S)
        self.lstm = torch.nn.LSTM(E + S + NT + NB, a.hidden, a.layers, dropout=a.dropout)
        self.drop = torch.nn.Dropout(a.dropout)
        self.out = torch.nn.Linear(a.hidden, V)

    def forward(self, tok, sty, pt, pb, hc):
        x = torch.cat([self.emb(tok), self.style(sty),
                       torch.nn.functional.one_hot(pt, NT).float(),
                       torch.nn.functional.one_hot(pb, NB).float()], -1)
        y, hc = self.lstm(x, hc)
        return self.out(self.drop(y)), hc


net = Net()
opt = torch.optim.Adam(net.parameters(), lr=2e-3)
T, B = a.bptt, a.batch
hc = None
t0 = 0.0
for k in range(a.steps + 2):
    if k == 2:
        t0 = time.perf_counter()
    tok = torch.randint(1, V, (T, B))
    tgt = torch.randint(1, V, (T, B))
    sty = torch.randint(0, NS, (T, B))
    pt = torch.randint(0, NT, (T, B))
    pb = torch.randint(0, NB, (T, B))
    logits, hc = net(tok, sty, pt, pb, hc)
    hc = tuple(h.detach() for h in hc)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), tgt.reshape(-1))
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
    opt.step()
dt = time.perf_counter() - t0
print('pytorch %s: hidden %d x %d layers, vocab %d, batch %d, bptt %d, dropout %.2f, %d thread(s): '
      '%.0f tokens/s' % (torch.__version__, a.hidden, a.layers, V, B, T, a.dropout, a.threads,
                         a.steps * B * T / dt))
