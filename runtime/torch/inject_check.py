"""What a PyTorch user of exported modules gets (runtime/torch/inject.test.ts): PiSSA computed from the
model's own weights at inject time, VB-LoRA's bank as one parameter across targets, dropout switched by
train()/eval(), SingLoRA's ramp following advance_step(), LoRA+'s ratio in param_groups(). Reads
{"modules": {adapter: path}} on stdin, prints measured numbers as JSON (the test judges them)."""
import importlib.util
import json
import sys

import torch
from torch import nn

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.q = nn.Linear(16, 12)
        self.v = nn.Linear(16, 16)

    def forward(self, x):
        return torch.cat([self.q(x), self.v(x)], -1)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([Block(), Block()])

    def forward(self, x):
        return torch.cat([b(x) for b in self.blocks], -1)


def model():
    m = Model()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.3)
    return m


def rel(a, b):
    return float(((a - b).abs() / b.abs().clamp(min=1)).max())


modules = json.load(sys.stdin)["modules"]
x = torch.randn(5, 16)
out = {}

# PiSSA: the adapted model starts exactly at the base model (W_res + s·A B = W0), A B is the best rank-r part
pissa = load(modules["PiSSA"], "pissa")
m = model()
y0 = m(x).detach()
w0 = m.blocks[1].q.weight.detach().clone()
pissa.inject(m, ["q", "v"], r=3)
layer = m.blocks[1].q
P = layer.lily_params()
s = 8.0 / 3  # alpha / r at the defaults
u, sv, vh = torch.linalg.svd(w0.t(), full_matrices=False)
best = (u[:, :3] * sv[:3]) @ vh[:3]
out["pissa_y_at_init"] = rel(m(x).detach(), y0)
out["pissa_rank_r_part"] = rel(s * P["A"] @ P["B"], best)
out["pissa_residual"] = rel(P["Wres"] + s * P["A"] @ P["B"], w0.t())
out["pissa_trainable"] = sorted(n for n, p in layer.named_parameters() if p.requires_grad)

# MiLoRA (the r minor components, [min(In, Out) − r:]) and SingLoRA ([max(In, Out), r]): one export
# serves layers of every shape, wide and tall
milora = load(modules["MiLoRA"], "milora")
m = model()
m.blocks.append(nn.Module())
m.blocks[2].q, m.blocks[2].v = nn.Linear(16, 20), nn.Linear(16, 7)
m.forward = lambda x: torch.cat([b.q(x) for b in m.blocks] + [b.v(x) for b in m.blocks], -1)
y0 = m(x).detach()
w0 = m.blocks[2].q.weight.detach().clone()
milora.inject(m, ["q", "v"], r=3)
P = m.blocks[2].q.lily_params()
u, sv, vh = torch.linalg.svd(w0.t(), full_matrices=False)
minor = (u[:, -3:] * sv[-3:]) @ vh[-3:]
out["milora_y_at_init"] = rel(m(x).detach(), y0)
out["milora_minor_part"] = rel((8.0 / 3) * P["A"] @ P["B"], minor)
sing = load(modules["SingLoRA"], "singlora")
shapes = []
for In, Out in ((16, 12), (12, 16), (9, 9)):
    layer = sing.SingLoRA(nn.Linear(In, Out))
    sing.advance_step(layer, 40)
    A = layer.lily_params()["A"]
    shapes.append(list(A.shape))
    want = layer.base_layer(x[:, :In]) + (8.0 / 2) * 0.4 * (x[:, :In] @ A[:In]) @ A[:Out].t()
    out.setdefault("singlora_shapes_error", 0.0)
    out["singlora_shapes_error"] = max(out["singlora_shapes_error"], rel(layer(x[:, :In]).detach(), want.detach()))
out["singlora_shapes"] = shapes

# VB-LoRA: one vector bank for every adapted layer of the model, whatever its target
vb = load(modules["VBLoRA"], "vblora")
m = model()
vb.inject(m, ["q", "v"], r=2, h=6, b=4, k=2)
key = vb.VBLoRA.PARAMS["bank"]["key"]
banks = [w._get(key) for w in m.modules() if isinstance(w, vb.LilyAdapter)]
out["vblora_layers"] = len(banks)
out["vblora_distinct_banks"] = len({id(b) for b in banks})
(m(x) ** 2).sum().backward()
out["vblora_bank_grad"] = float(banks[0].grad.abs().sum())

# LoRA with dropout: random in train(), the identity in eval()
lora = load(modules["LoRA"], "lora")
m = model()
lora.inject(m, ["q", "v"], r=2, drop=0.5)
with torch.no_grad():
    for w in m.modules():
        if isinstance(w, lora.LilyAdapter):
            w._get(w.PARAMS["B"]["key"]).normal_()
m.train()
out["lora_train_calls_differ"] = rel(m(x), m(x))
m.eval()
q = m.blocks[0].q
P = q.lily_params()
plain = x @ q.base_layer.weight.t() + q.base_layer.bias + 4.0 * x @ P["A"] @ P["B"]  # alpha / r = 8 / 2
out["lora_eval_is_plain"] = rel(q(x), plain)
out["lora_eval_calls_differ"] = rel(m(x), m(x))

# SingLoRA: the ramp u = min(step / T, 1) follows advance_step()
sing = load(modules["SingLoRA"], "singlora")
base = nn.Linear(16, 16)
layer = sing.SingLoRA(base, T=100)
ys = {}
for step in (0, 50, 100, 200):
    layer.lily_step.fill_(0)
    sing.advance_step(layer, step)
    ys[step] = layer(x).detach()
base_y = base(x).detach()
out["singlora_step0_is_base"] = rel(ys[0], base_y)
out["singlora_half_ramp"] = rel(ys[100] - base_y, 2 * (ys[50] - base_y))
out["singlora_after_T_flat"] = rel(ys[200], ys[100])
out["singlora_moves"] = rel(ys[100], base_y)

# LoRA+: B's learning rate is lr · ratio in param_groups()
plus = load(modules["LoRAPlus"], "loraplus")
m = model()
plus.inject(m, ["q"], r=2, ratio=16.0)
groups = plus.param_groups(m, 1e-3)
key_b = plus.LoRAPlus.PARAMS["B"]["key"]
bs = {id(w._get(key_b)) for w in m.modules() if isinstance(w, plus.LilyAdapter)}
out["loraplus_lr_of_B"] = sorted({g["lr"] for g in groups if all(id(p) in bs for p in g["params"])})
out["loraplus_lr_of_rest"] = sorted({g["lr"] for g in groups if not any(id(p) in bs for p in g["params"])})

# DoRA: PEFT's parameterisation, the magnitude vector m itself (starting at ‖W0‖ per output row) is the
# trainable parameter, so torch's weight decay acts on m as in PEFT
dora = load(modules["DoRA"], "dora")
m = model()
w0 = m.blocks[0].v.weight.detach().clone()
dora.inject(m, ["v"], r=2)
layer = m.blocks[0].v
out["dora_trainable"] = sorted(n for n, p in layer.named_parameters() if p.requires_grad)
out["dora_m_is_row_norm"] = rel(layer.lora_magnitude_vector.detach(), torch.linalg.vector_norm(w0, dim=1))
out["dora_y_at_init"] = rel(layer(x).detach(), x @ w0.t() + layer.base_layer.bias)

json.dump(out, sys.stdout)
