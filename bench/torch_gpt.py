"""The tiny-GPT reference workload in PyTorch, driven step by step by bench/train-step.ts (benchmark only).

Same model as bench/tfjs-gpt.ts and tsgrad's TransformerLM in the benchmark: vocab 256, context 64,
d_model 64, 4 heads, 2 pre-LayerNorm blocks (separate q, k, v, proj Linears with bias), MLP 4x with
tanh-GELU, learned positions, untied output head without bias; Adam lr 1e-3; 136,960 parameters.

Protocol (one JSON object per line):
  stdin  {"batches": [[x0, y0], ...], "seed": s, "batch": B, "context": T, "threads": k}   once
  stdout {"ready": true, "parameters": n, "torch": version, "threads": k}
  stdin  {"step": i}                                                                 per step, batch i
  stdout {"loss": l, "cpu_ms": c}      cpu_ms: this process's CPU time for the step
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

V, T, D, H, L = 256, 64, 64, 4, 2


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(D)
        self.q, self.k, self.v, self.proj = (nn.Linear(D, D) for _ in range(4))
        self.ln2 = nn.LayerNorm(D)
        self.fc = nn.Linear(D, 4 * D)
        self.fc2 = nn.Linear(4 * D, D)

    def forward(self, x, mask):
        b, t, _ = x.shape
        h = self.ln1(x)
        split = lambda z: z.view(b, t, H, D // H).transpose(1, 2)
        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        s = (q @ k.transpose(-2, -1)) / math.sqrt(D // H)
        p = s.masked_fill(mask[:t, :t], float("-inf")).softmax(-1)
        x = x + self.proj((p @ v).transpose(1, 2).reshape(b, t, D))
        return x + self.fc2(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(V, D)
        self.pos = nn.Embedding(T, D)
        self.blocks = nn.ModuleList(Block() for _ in range(L))
        self.lnf = nn.LayerNorm(D)
        self.head = nn.Linear(D, V, bias=False)
        self.register_buffer("mask", torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1))

    def forward(self, x):
        h = self.tok(x) + self.pos(torch.arange(x.shape[1]))
        for blk in self.blocks:
            h = blk(h, self.mask)
        return self.head(self.lnf(h))


def main():
    init = json.loads(sys.stdin.readline())
    torch.set_num_threads(int(init.get("threads", 1)))
    torch.manual_seed(init["seed"])
    b, t = init["batch"], init["context"]
    batches = [(torch.tensor(x, dtype=torch.long).view(b, t), torch.tensor(y, dtype=torch.long).view(b, t)) for x, y in init["batches"]]
    model = GPT()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n = sum(p.numel() for p in model.parameters())
    print(json.dumps({"ready": True, "parameters": n, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        i = json.loads(line)["step"]
        x, y = batches[i]
        c0 = time.process_time()
        loss = F.cross_entropy(model(x).view(-1, V), y.view(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        value = loss.item()
        print(json.dumps({"loss": value, "cpu_ms": (time.process_time() - c0) * 1000}), flush=True)


if __name__ == "__main__":
    main()
