"""The PyTorch peer of `npm run bench` (bench/torch-peer.ts drives it): the same training steps as
ours, in PyTorch eager (and torch.compile where this torch has it), timed one step per request so the
benchmark can interleave ours and PyTorch's samples in one run.

Protocol (one JSON object per line): the driver writes {"cmd": "setup", "name": ..., "kind": ...,
"dims": {...}}, {"cmd": "step", "name": ...}, {"cmd": "alone", "name": ..., "n": ...} or {"cmd": "info"};
we answer one line each:
{"ok": true, ...} or {"ok": false, "error": ...}. A step answer carries "ms" (the step's wall time,
measured here, so the pipe is not counted) and "loss"; an "alone" answer carries "ms", the median of
n steps run back to back here (PyTorch undisturbed: the figure the interleaved samples are checked
against).

Steps (float32, 2 threads by default, AdamW on the trainable tensors only, MSE loss):
  paper-lily  frozen Linear(In, Out) + Lily(r, E) on x: [N, In]  (the Lily paper's shape)
  paper-lora  frozen Linear(In, Out) + LoRA(r)
  vit-lily    a ViT-small-like pre-LN encoder (L blocks, D, heads, F) on x: [Bt, T, D], Lily on q and
              v (A and router per layer, B experts shared by every layer of the same target)
  vit-lora    the same encoder with LoRA on q and v
Lily's forward is written as PEFT writes it: router probabilities averaged over the tokens, the
experts summed by them into one matrix, then one matmul (the fold our compiler finds by itself).
"""
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Lily(nn.Module):
    def __init__(self, base: nn.Linear, r: int, E: int, B: nn.Parameter, scale=1.0):
        super().__init__()
        self.base = base
        self.A = nn.Linear(base.in_features, r, bias=False)
        self.router = nn.Linear(r, E, bias=False)
        self.B = B  # [E, r, Out], shared
        self.scale = scale

    def forward(self, x):
        h = self.A(x)
        p = F.softmax(self.router(h), dim=-1).reshape(-1, self.B.shape[0]).mean(0)
        hp = torch.einsum("e,eio->io", p, self.B)
        return self.base(x) + self.scale * (h @ hp)


class LoRA(nn.Module):
    def __init__(self, base: nn.Linear, r: int, alpha=16.0):
        super().__init__()
        self.base = base
        self.A = nn.Linear(base.in_features, r, bias=False)
        self.B = nn.Linear(r, base.out_features, bias=False)
        nn.init.normal_(self.B.weight, std=0.02)  # nonzero, so the step does the same work every time
        self.s = alpha / r

    def forward(self, x):
        return self.base(x) + self.s * self.B(self.A(x))


def adapt(base, kind, r, E, shared):
    if kind == "lily":
        if "B" not in shared:
            shared["B"] = nn.Parameter(torch.randn(E, r, base.out_features) * 0.02)
        return Lily(base, r, E, shared["B"])
    return LoRA(base, r)


class Block(nn.Module):
    def __init__(self, D, heads, Fw, kind, r, E, shared):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.q = adapt(nn.Linear(D, D), kind, r, E, shared.setdefault("q", {}))
        self.k = nn.Linear(D, D)
        self.v = adapt(nn.Linear(D, D), kind, r, E, shared.setdefault("v", {}))
        self.o = nn.Linear(D, D)
        self.up, self.down = nn.Linear(D, Fw), nn.Linear(Fw, D)

    def forward(self, x):
        Bt, T, D = x.shape
        H = self.heads
        y = self.ln1(x)
        split = lambda t: t.reshape(Bt, T, H, D // H).permute(0, 2, 1, 3)
        q, k, v = split(self.q(y)), split(self.k(y)), split(self.v(y))
        a = torch.softmax(q @ k.transpose(-1, -2) * (1.0 / math.sqrt(D // H)), dim=-1) @ v
        h = x + self.o(a.permute(0, 2, 1, 3).reshape(Bt, T, D))
        return h + self.down(F.gelu(self.up(self.ln2(h)), approximate="tanh"))


class Encoder(nn.Module):
    def __init__(self, D, heads, Fw, L, kind, r, E):
        super().__init__()
        shared = {}
        self.blocks = nn.ModuleList([Block(D, heads, Fw, kind, r, E, shared) for _ in range(L)])
        self.ln = nn.LayerNorm(D)

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return self.ln(x)


def freeze_all_but_adapters(model):
    for name, p in model.named_parameters():
        p.requires_grad = any(k in name.split(".") for k in ("A", "router", "B")) and ".base." not in f".{name}."


class Step:
    def __init__(self, kind, dims, compiled, device="cpu"):
        torch.manual_seed(0)
        self.device = device
        d = dims
        if kind.startswith("paper-"):
            base = nn.Linear(d["In"], d["Out"])
            self.model = adapt(base, kind[6:], d["r"], d.get("E", 4), {})
            self.x = torch.randn(d["N"], d["In"])
            self.t = torch.randn(d["N"], d["Out"])
        else:
            self.model = Encoder(d["D"], d["heads"], d["F"], d["L"], kind[4:], d["r"], d.get("E", 4))
            self.x = torch.randn(d["Bt"], d["T"], d["D"])
            self.t = torch.randn(d["Bt"], d["T"], d["D"])
        self.model.to(device)
        self.x, self.t = self.x.to(device), self.t.to(device)
        freeze_all_but_adapters(self.model)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.trainable = sum(p.numel() for p in self.params)
        self.opt = torch.optim.AdamW(self.params, lr=1e-3, weight_decay=0.01)
        self.fwd = torch.compile(self.model) if compiled else self.model

    def step(self):
        t0 = time.perf_counter()
        self.opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(self.fwd(self.x), self.t)
        loss.backward()
        self.opt.step()
        if self.device != "cpu":
            torch.cuda.synchronize()
        ms = (time.perf_counter() - t0) * 1e3
        return ms, float(loss)


def main():
    steps = {}
    out = lambda o: (sys.stdout.write(json.dumps(o) + "\n"), sys.stdout.flush())
    for line in sys.stdin:
        try:
            req = json.loads(line)
            cmd = req["cmd"]
            if cmd == "rss":
                import resource
                out({"ok": True, "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024})
            elif cmd == "info":
                out({"ok": True, "torch": torch.__version__, "threads": torch.get_num_threads(), "compile": hasattr(torch, "compile"),
                     "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None})
            elif cmd == "setup":
                compiled = bool(req.get("compiled"))
                if compiled and not hasattr(torch, "compile"):
                    out({"ok": False, "error": f"torch.compile needs PyTorch ≥ 2.0; this is {torch.__version__}"})
                    continue
                device = req.get("device", "cpu")
                if device != "cpu" and not torch.cuda.is_available():
                    out({"ok": False, "error": f"no CUDA device for this torch ({torch.__version__}, cuda {torch.version.cuda})"})
                    continue
                s = Step(req["kind"], req["dims"], compiled, device)
                steps[req["name"]] = s
                out({"ok": True, "trainable": s.trainable})
            elif cmd == "alone":
                s = steps[req["name"]]
                out({"ok": True, "ms": statistics.median(s.step()[0] for _ in range(int(req.get("n", 9))))})
            elif cmd == "step":
                ms, loss = steps[req["name"]].step()
                out({"ok": True, "ms": ms, "loss": loss})
            else:
                out({"ok": False, "error": f"unknown command {cmd}"})
        except Exception as e:  # the driver reports it; the peer keeps serving
            out({"ok": False, "error": f"{type(e).__name__}: {e}"})


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--threads":
        torch.set_num_threads(int(sys.argv[2]))
    main()
