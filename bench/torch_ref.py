#!/usr/bin/python3
"""PyTorch reference for `npm run bench` (bench/run.ts drives it; never a runtime dependency).

Every subcommand reads its inputs from files written by run.ts (token ids as raw int32,
weights as raw float32 plus a JSON manifest) and prints one JSON object on stdout.
The model mirrors rnnlm's RnnLm: Embedding(V, E) -> LSTM(E, H, layers) -> Linear(H, V),
time-major batches x[t*B + b], Adam (PyTorch defaults) + global-norm clip, state carried
(detached) between minibatches.

Threads come from the environment, set by run.ts before this process starts (torch reads
OpenBLAS's and OpenMP's settings when it loads): BENCH_TORCH_THREADS is the intra-op thread
count (torch.set_num_threads), OPENBLAS_NUM_THREADS the BLAS threads each of them may use.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(int(os.environ.get("BENCH_TORCH_THREADS", "1")))


class CharLstm(nn.Module):
    def __init__(self, vocab, emb, hidden, layers, init="torch"):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, hidden, layers)
        self.output = nn.Linear(hidden, vocab)
        self.layers = layers
        self.hidden = hidden
        # "torch" keeps what a PyTorch user gets: N(0, 1) embedding, U(+-1/sqrt(H)) for every
        # LSTM weight and bias, nn.Linear's U(+-1/sqrt(H)) for the decoder. "rnnlm" is
        # rnnlm's old scheme (before 2026-12-06): U(-0.1, 0.1) embedding and decoder, zero
        # biases except the forget gate at 1.
        if init == "torch":
            return
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        nn.init.uniform_(self.output.weight, -0.1, 0.1)
        nn.init.zeros_(self.output.bias)
        with torch.no_grad():
            for l in range(layers):
                getattr(self.lstm, f"bias_ih_l{l}").zero_()
                getattr(self.lstm, f"bias_hh_l{l}").zero_()
                getattr(self.lstm, f"bias_ih_l{l}")[hidden : 2 * hidden] = 1.0

    def zero_state(self, batch):
        z = torch.zeros(self.layers, batch, self.hidden)
        return (z, z.clone())

    def forward(self, x, state):
        # x: [T, B] int64 -> logits [T*B, V] (time-major, like rnnlm)
        out, state = self.lstm(self.embedding(x), state)
        return self.output(out.reshape(-1, self.hidden)), state


def load_tokens(path):
    return np.fromfile(path, dtype=np.int32).astype(np.int64)


class Batches:
    """Sequential partition: B contiguous streams, T steps per minibatch, wrapping around."""

    def __init__(self, tokens, batch, steps):
        self.tokens = tokens
        self.batch = batch
        self.steps = steps
        self.stream = (len(tokens) - 1) // batch
        self.offset = 0

    def next(self):
        if self.offset + self.steps > self.stream:
            self.offset = 0
        starts = np.arange(self.batch) * self.stream + self.offset
        idx = starts[None, :] + np.arange(self.steps)[:, None]  # [T, B]
        self.offset += self.steps
        x = torch.from_numpy(self.tokens[idx])
        y = torch.from_numpy(self.tokens[idx + 1]).reshape(-1)
        return x, y, self.offset == self.steps


def over_budget(a, i, started):
    """True once --max-seconds have passed and at least one step was measured: a badly
    oversubscribed thread setting can take many seconds a step and still gets its figure."""
    return i > a.warmup and time.perf_counter() - started > a.max_seconds


def train_step(model, opt, x, y, state, clip):
    opt.zero_grad(set_to_none=True)
    logits, state = model(x, state)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    return loss.item(), (state[0].detach(), state[1].detach())


def cmd_ceiling(a):
    n = a.n
    x = torch.randn(n, n)
    y = torch.randn(n, n)
    for _ in range(2):
        torch.mm(x, y)
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        torch.mm(x, y)
        times.append(time.perf_counter() - t0)
    best = min(times)
    med = float(np.median(times))
    return {"n": n, "gflops": 2 * n**3 / best / 1e9, "gflopsMedian": 2 * n**3 / med / 1e9}


def cmd_train(a):
    torch.manual_seed(a.seed)
    tokens = load_tokens(a.tokens)
    model = CharLstm(a.vocab, a.emb, a.hidden, a.layers, a.init)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    data = Batches(tokens, a.batch, a.steps)
    state = model.zero_state(a.batch)
    times = []
    losses = []
    started = time.perf_counter()
    for i in range(a.warmup + a.measure):
        if over_budget(a, i, started):
            break
        x, y, reset = data.next()
        if reset:
            state = model.zero_state(a.batch)
        t0 = time.perf_counter()
        loss, state = train_step(model, opt, x, y, state, a.clip)
        dt = time.perf_counter() - t0
        if i >= a.warmup:
            times.append(dt)
            losses.append(loss)
    return {"stepMs": [t * 1000 for t in times], "losses": losses}


def cmd_score(a):
    torch.manual_seed(a.seed)
    tokens = load_tokens(a.tokens)
    model = CharLstm(a.vocab, a.emb, a.hidden, a.layers, a.init).eval()
    data = Batches(tokens, a.batch, a.steps)
    state = model.zero_state(a.batch)
    times = []
    started = time.perf_counter()
    with torch.no_grad():
        for i in range(a.warmup + a.measure):
            if over_budget(a, i, started):
                break
            x, y, _ = data.next()
            t0 = time.perf_counter()
            logits, state = model(x, state)
            nll = F.cross_entropy(logits, y, reduction="none")
            nll.numpy()
            dt = time.perf_counter() - t0
            if i >= a.warmup:
                times.append(dt)
    return {"stepMs": [t * 1000 for t in times]}


def cmd_generate(a):
    torch.manual_seed(a.seed)
    model = CharLstm(a.vocab, a.emb, a.hidden, a.layers, a.init).eval()
    gen = torch.Generator().manual_seed(a.seed)
    times = []
    with torch.no_grad():
        for rep in range(a.warmup_reps + a.reps):  # the first repetitions are warm-up
            state = model.zero_state(1)
            token = torch.tensor([[a.start]])
            t0 = time.perf_counter()
            for _ in range(a.count):
                logits, state = model(token, state)
                probs = torch.softmax(logits[0], dim=0)
                token = torch.multinomial(probs, 1, generator=gen).reshape(1, 1)
                token.item()
            dt = time.perf_counter() - t0
            if rep >= a.warmup_reps:
                times.append(dt * 1000 / a.count)
    return {"msPerToken": times}


def load_weights(model, manifest_path, layers, hidden):
    """Copies rnnlm weights in: gate order i,f,o,g -> torch's i,f,g,o; one bias -> b_ih (b_hh = 0)."""
    with open(manifest_path) as f:
        manifest = json.load(f)
    w = {}
    for e in manifest["weights"]:
        w[e["name"]] = torch.from_numpy(np.fromfile(e["file"], dtype=np.float32).reshape(e["shape"]))
    H = hidden

    def reorder(t):  # last axis [i f o g] -> [i f g o]
        return torch.cat([t[..., 0:H], t[..., H : 2 * H], t[..., 3 * H : 4 * H], t[..., 2 * H : 3 * H]], -1)

    with torch.no_grad():
        model.embedding.weight.copy_(w["embedding"])
        for l in range(layers):
            getattr(model.lstm, f"weight_ih_l{l}").copy_(reorder(w[f"layers.{l}.kernel"]).t())
            getattr(model.lstm, f"weight_hh_l{l}").copy_(reorder(w[f"layers.{l}.recurrent"]).t())
            getattr(model.lstm, f"bias_ih_l{l}").copy_(reorder(w[f"layers.{l}.bias"]))
            getattr(model.lstm, f"bias_hh_l{l}").zero_()
        model.output.weight.copy_(w["output.kernel"].t())
        model.output.bias.copy_(w["output.bias"])


def cmd_crosscheck(a):
    model = CharLstm(a.vocab, a.emb, a.hidden, a.layers, a.init).eval()
    load_weights(model, a.weights, a.layers, a.hidden)
    x = torch.from_numpy(np.fromfile(a.x, dtype=np.int32).astype(np.int64)).reshape(a.steps, a.batch)
    y = torch.from_numpy(np.fromfile(a.y, dtype=np.int32).astype(np.int64))
    with torch.no_grad():
        logits, _ = model(x, model.zero_state(a.batch))
        nll = F.cross_entropy(logits, y, reduction="none")
    return {"loss": float(nll.mean()), "nll": [float(v) for v in nll]}


def evaluate(model, tokens, batch, steps):
    data = Batches(tokens, batch, steps)
    n_chunks = data.stream // steps
    state = model.zero_state(batch)
    total = 0.0
    count = 0
    with torch.no_grad():
        for _ in range(n_chunks):
            x, y, _ = data.next()
            logits, state = model(x, state)
            total += float(F.cross_entropy(logits, y, reduction="sum"))
            count += y.numel()
    return total / count


def cmd_quality(a):
    """Trains for --minutes of wall time, or exactly --max-steps steps when given, then validates."""
    torch.manual_seed(a.seed)
    train = load_tokens(a.tokens)
    val = load_tokens(a.val)
    model = CharLstm(a.vocab, a.emb, a.hidden, a.layers, a.init)
    if a.weights is not None:
        load_weights(model, a.weights, a.layers, a.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    data = Batches(train, a.batch, a.steps)
    state = model.zero_state(a.batch)
    losses = []
    budget = a.minutes * 60
    t0 = time.perf_counter()
    steps = 0
    loss = math.nan

    def more():
        if a.max_steps is not None:
            return steps < a.max_steps
        return time.perf_counter() - t0 < budget

    while more():
        x, y, reset = data.next()
        if reset:
            state = model.zero_state(a.batch)
        loss, state = train_step(model, opt, x, y, state, a.clip)
        losses.append(loss)
        steps += 1
    trained_s = time.perf_counter() - t0
    model.eval()
    val_nats = evaluate(model, val, a.batch, a.steps)
    return {
        "steps": steps,
        "trainSeconds": trained_s,
        "trainLoss": loss,
        "losses": losses,
        "valNatsPerChar": val_nats,
    }


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)

    def model_args(s):
        s.add_argument("--vocab", type=int, required=True)
        s.add_argument("--emb", type=int, default=64)
        s.add_argument("--hidden", type=int, default=256)
        s.add_argument("--layers", type=int, default=2)
        s.add_argument("--seed", type=int, default=1)
        s.add_argument("--init", choices=["torch", "rnnlm"], default="torch")

    s = sub.add_parser("ceiling")
    s.add_argument("--n", type=int, default=2048)
    s.add_argument("--reps", type=int, default=5)
    for name in ("train", "score", "quality"):
        s = sub.add_parser(name)
        model_args(s)
        s.add_argument("--tokens", required=True)
        s.add_argument("--batch", type=int, default=32)
        s.add_argument("--steps", type=int, default=64)
        s.add_argument("--warmup", type=int, default=3)
        s.add_argument("--measure", type=int, default=10)
        s.add_argument("--lr", type=float, default=0.002)
        s.add_argument("--clip", type=float, default=5.0)
        s.add_argument("--val")
        s.add_argument("--minutes", type=float, default=10)
        s.add_argument("--max-steps", type=int)
        s.add_argument("--max-seconds", type=float, default=math.inf)
        s.add_argument("--weights", help="start from these weights (run.ts's manifest)")
    s = sub.add_parser("generate")
    model_args(s)
    s.add_argument("--count", type=int, default=500)
    s.add_argument("--reps", type=int, default=3)
    s.add_argument("--warmup-reps", type=int, default=1)
    s.add_argument("--start", type=int, default=0)
    s = sub.add_parser("crosscheck")
    model_args(s)
    s.add_argument("--weights", required=True)
    s.add_argument("--x", required=True)
    s.add_argument("--y", required=True)
    s.add_argument("--batch", type=int, required=True)
    s.add_argument("--steps", type=int, required=True)
    a = p.parse_args()
    fn = {
        "ceiling": cmd_ceiling,
        "train": cmd_train,
        "score": cmd_score,
        "generate": cmd_generate,
        "crosscheck": cmd_crosscheck,
        "quality": cmd_quality,
    }[a.cmd]
    result = fn(a)
    result["torch"] = torch.__version__
    result["threads"] = torch.get_num_threads()
    result["blasThreads"] = int(os.environ.get("OPENBLAS_NUM_THREADS", "0"))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
