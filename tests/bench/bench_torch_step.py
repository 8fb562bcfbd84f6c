#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
# PyTorch peer of `cantus-bench --peers` for tests/bench/peers.sh: the
# reference stack (nn.LSTM 96->256, 2 layers, then nn.Linear 256->300),
# batch 1, one step at a time with the state carried, one thread, fp32 and
# dynamically quantised int8 (torch.ao.quantization.quantize_dynamic on
# LSTM and Linear: int8 weights, activations quantised per step).  Prints
# "peer torch-fp32 US" and "peer torch-int8-dynamic US" (median us per step).
import time

import torch

torch.set_num_threads(1)
torch.manual_seed(1)


class Stack(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(96, 256, 2)
        self.out = torch.nn.Linear(256, 300)

    def forward(self, x, hc):
        y, hc = self.lstm(x, hc)
        return self.out(y), hc


def median_us(net, n=3000):
    x = torch.randn(1, 1, 96)
    hc = (torch.zeros(2, 1, 256), torch.zeros(2, 1, 256))
    t = []
    with torch.inference_mode():
        for i in range(n + 100):
            t0 = time.perf_counter()
            _, hc = net(x, hc)
            if i >= 100:
                t.append(time.perf_counter() - t0)
    t.sort()
    return t[len(t) // 2] * 1e6


net = Stack().eval()
print("peer torch-fp32 %.2f" % median_us(net), flush=True)
try:
    q = torch.ao.quantization.quantize_dynamic(
        net, {torch.nn.LSTM, torch.nn.Linear}, dtype=torch.qint8)
    print("peer torch-int8-dynamic %.2f" % median_us(q), flush=True)
except (RuntimeError, AttributeError) as e:
    print("peer torch-int8-dynamic unavailable (%s)" % e)
