"""The speech-emotion network rebuilt in PyTorch, trained for a fixed number of steps on random
inputs: the reference that `bench/train-speed.sh` compares the trainer's throughput with.

Same layers and sizes as `src/model.rs` (conv 16/32/64 with batch norm and 2x2 max pooling,
linear 1024 -> 128, BiLSTM 2 x 64, additive attention 64, linear 128 -> 8, dropout 0.3), the
same loss (class-weighted soft-target cross-entropy) and Adam at 1e-3. Prints one JSON line.
"""

import argparse
import json
import time

import torch
from torch import nn


class EmotionNet(nn.Module):
    def __init__(self, n_mels=128, channels=(16, 32, 64), d_model=128, hidden=64, att=64, classes=8):
        super().__init__()
        blocks, c_in = [], 1
        for c in channels:
            blocks += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = c
        self.blocks = nn.Sequential(*blocks)
        self.project = nn.Linear(c_in * (n_mels >> len(channels)), d_model)
        self.lstm = nn.LSTM(d_model, hidden, batch_first=True, bidirectional=True)
        self.att_hidden = nn.Linear(2 * hidden, att)
        self.att_score = nn.Linear(att, 1)
        self.dropout = nn.Dropout(0.3)
        self.classify = nn.Linear(2 * hidden, classes)

    def forward(self, x):  # x: [batch, mels, frames]
        x = self.blocks(x.unsqueeze(1))
        b, c, f, t = x.shape
        x = x.permute(0, 3, 1, 2).reshape(b, t, c * f)
        x = self.dropout(torch.relu(self.project(x)))
        h, _ = self.lstm(x)
        a = torch.softmax(self.att_score(torch.tanh(self.att_hidden(h))).squeeze(2), dim=1)
        pooled = (h * a.unsqueeze(2)).sum(1)
        return self.classify(self.dropout(pooled))


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=0, help="0: PyTorch's default")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = EmotionNet()
    model.train()
    optim = torch.optim.Adam(model.parameters(), lr=1e-3)
    k, b = 8, a.batch_size
    x = torch.randn(b, 128, 128)
    y = torch.randint(0, k, (b,))
    target = torch.full((b, k), 0.1 / k)
    target[torch.arange(b), y] += 0.9
    weight = torch.rand(b) + 0.5

    def step():
        optim.zero_grad(set_to_none=True)
        logp = torch.log_softmax(model(x), dim=1)
        loss = ((-(logp * target).sum(1)) * weight).sum() / weight.sum()
        loss.backward()
        optim.step()

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    seconds = time.perf_counter() - t0
    print(json.dumps({
        "implementation": f"pytorch {torch.__version__}",
        "threads": torch.get_num_threads(),
        "batch_size": b,
        "steps": a.steps,
        "seconds": seconds,
        "clips_per_second": a.steps * b / seconds,
        "parameters": sum(p.numel() for p in model.parameters()),
    }))


if __name__ == "__main__":
    main()
