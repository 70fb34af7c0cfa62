// The fixed Python part of every exported module: our initialisers (runtime/init/initializers.ts,
// the same distributions on our layout), the wrapper base class, PEFT's target matching and Lily
// sharing (compiler/interp/targets.ts), and PEFT-format state dicts. Kept as text here because the
// compiler core is browser-safe (no file reads).
export const PY_RUNTIME = String.raw`
import math
import re

import torch
import torch.nn.functional as F
from torch import nn


def _row_norm(w):
    # ‖W0‖ per output unit; nn.Linear stores [out, in]
    return torch.linalg.vector_norm(w, dim=1)


def _untake(v, axis, index, size):
    return torch.stack([v if i == index else torch.zeros_like(v) for i in range(size)], axis)


def _topk_mask(x, axis, k):
    # 1 at the k largest entries along axis; among equal values the lower index wins (stable sort)
    idx = torch.sort(x.detach(), dim=axis, descending=True, stable=True).indices.narrow(axis, 0, k)
    return torch.zeros_like(x).scatter(axis, idx, 1.0)


def _shift_matrix(rows, cols, offset, dtype=None, device=None):
    # S[i, j] = [i = j + offset]: S x places x at offset along an axis (a slice's transpose)
    return torch.eye(rows, cols + offset, dtype=dtype, device=device)[:, offset:]


def _decompose(w, part):
    # Thin SVD / QR with Lily's signs (runtime/tensor/decompose.ts): SVD columns signed so that the
    # largest-magnitude entry of each column of U (of V when W is wide) is positive; R's diagonal >= 0
    if part.startswith("qr"):
        q, r = torch.linalg.qr(w, mode="reduced")
        d = torch.where(torch.diagonal(r) < 0, -1.0, 1.0).to(w.dtype)
        return q * d if part == "qr_q" else r * d[:, None]
    u, s, vh = torch.linalg.svd(w, full_matrices=False)
    v = vh.mT
    ref = u if w.shape[0] >= w.shape[1] else v
    big = ref.gather(0, ref.abs().argmax(0, keepdim=True))[0]
    d = torch.where(big < 0, -1.0, 1.0).to(w.dtype)
    return {"svd_u": u * d, "svd_s": s, "svd_v": v * d}[part]


def _fans(shape):
    # Our layout: weights [..., In, Out], so fan_in = shape[-2] (PyTorch's [out, in] transposed)
    if len(shape) < 2:
        raise ValueError(f"fan_in/fan_out need rank >= 2, got shape {list(shape)}")
    return shape[-2], shape[-1]


def _uniform(shape, low, high):
    return torch.rand(shape, dtype=torch.float64) * (high - low) + low


def _orthogonal(shape, a):
    t = torch.empty(shape, dtype=torch.float64)
    for m in t.reshape(-1, shape[-2], shape[-1]):
        nn.init.orthogonal_(m, gain=a["gain"])
    return t


def _eye(shape, a):
    t = torch.zeros(shape, dtype=torch.float64)
    t[..., range(min(shape[-2:])), range(min(shape[-2:]))] = 1.0
    return t


def _fourier(shape, a, trig):
    # Frozen basis [n, M]: row k is trig(2π u_k i / M), u_k uniform integers in [0, M) from the seed
    n, M = shape
    u = torch.randint(0, M, (n,), generator=torch.Generator().manual_seed(int(a["seed"]))).double()
    return trig(2 * math.pi * u[:, None] * torch.arange(M, dtype=torch.float64)[None, :] / M)


_INIT = {
    "zeros": lambda s, a: torch.zeros(s, dtype=torch.float64),
    "ones": lambda s, a: torch.ones(s, dtype=torch.float64),
    "constant": lambda s, a: torch.full(s, float(a["value"]), dtype=torch.float64),
    "normal": lambda s, a: torch.randn(s, dtype=torch.float64) * a["std"] + a["mean"],
    "sparse_normal": lambda s, a: (torch.rand(s, dtype=torch.float64) < a["density"]) * torch.randn(s, dtype=torch.float64) * a["std"],
    "uniform": lambda s, a: _uniform(s, a["low"], a["high"]),
    "kaiming_uniform": lambda s, a: (lambda b: _uniform(s, -b, b))(math.sqrt(2 / (1 + a["a"] ** 2)) * math.sqrt(3 / _fans(s)[0])),
    "xavier_uniform": lambda s, a: (lambda b: _uniform(s, -b, b))(a["gain"] * math.sqrt(6 / sum(_fans(s)))),
    "orthogonal": _orthogonal,
    "eye": _eye,
    "fourier_cos": lambda s, a: _fourier(s, a, torch.cos),
    "fourier_sin": lambda s, a: _fourier(s, a, torch.sin),
}


class _Compiled(torch.autograd.Function):
    """The adapter's compiled forward, with the compiler's backward program as its gradient."""

    @staticmethod
    def forward(ctx, cls, fns, D, I, names, x, *tensors):
        y, saved = fns[0](x, dict(zip(names, tensors)), D, None, I)
        ctx.cls, ctx.backward_fn, ctx.D, ctx.names = cls, fns[1], D, names
        ctx.save_for_backward(x, *tensors, *saved)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, *rest = ctx.saved_tensors
        n = len(ctx.names)
        g = ctx.backward_fn(x, dy, dict(zip(ctx.names, rest[:n])), ctx.D, rest[n:])
        for name, need in zip(ctx.names, ctx.needs_input_grad[6:]):
            if need and name not in g:
                raise RuntimeError(f"{ctx.cls.ADAPTER}: the compiled program has no gradient for {name} (frozen there); export with --backward autograd to train it")
        return (None, None, None, None, None, g.get("x")) + tuple(g.get(name) for name in ctx.names)


class LilyAdapter(nn.Module):
    """An adapter wrapping a base nn.Linear; subclasses carry the compiled forward and the parameter table."""

    def __init__(self, base_layer, shared=None, **hypers):
        super().__init__()
        if not isinstance(base_layer, nn.Linear):
            raise TypeError(f"{self.ADAPTER} wraps an nn.Linear, got {type(base_layer).__name__}")
        for k, v in hypers.items():
            if k not in self.HYPERS:
                raise TypeError(f"{self.ADAPTER} has no hyper-parameter {k!r} (it has {', '.join(self.HYPERS) or 'none'})")
            if k not in self.FREE_HYPERS and v != self.HYPERS[k]:
                raise ValueError(f"{self.ADAPTER} was exported with {k}={self.HYPERS[k]!r}: export again with --dims {k}={v} to change it")
        self.hypers = {**self.HYPERS, **hypers}
        self.base_layer = base_layer.requires_grad_(False)  # the base is frozen, as PEFT does
        D = {"In": base_layer.in_features, "Out": base_layer.out_features}
        for k in self.DIM_HYPERS:
            D[k] = int(self.hypers[k])
        for k, (v, why) in self.FIXED_DIMS.items():
            if k in D and D[k] != v:
                raise ValueError(f"{self.ADAPTER} was exported for {k}={v} only ({why}); this layer has {k}={D[k]}: export again with --dims {k}={D[k]}")
        self.dims = D
        self.merged = False
        # The optimiser steps taken so far (programs reading "step"; advance_step(model) counts them),
        # and an optional draws(name, shape) feeding the forward's random numbers (else torch.rand).
        self.register_buffer("lily_step", torch.zeros((), dtype=torch.float64), persistent=False)
        self.draws = None
        w = base_layer.weight
        shared = shared or {}
        for name, spec in self.PARAMS.items():
            p = shared.get(name)
            if p is None:
                shape = tuple(spec["shape"](D))
                # "from" parameters start as zeros here and are computed from the base layer below
                ours = (torch.zeros(shape, dtype=torch.float64) if spec["init"] is None else _INIT[spec["init"]](shape, spec["args"](D))).to(dtype=w.dtype, device=w.device)
                with torch.no_grad():
                    p = nn.Parameter(spec["from_ours"](self, ours, shape).detach().clone(), requires_grad=spec["trainable"])
            self._put(spec["key"], p)
        if self._init is not None:
            self.init_from_base(skip=shared)

    def init_from_base(self, skip=()):
        """Compute every parameter initialised "from" the base layer (an SVD or QR of its weight, …)
        afresh from the current base weight and the other parameters, in float64 as Lily does; call it
        again after loading other base weights. Parameters named in skip (shared ones) are kept."""
        w, b = self.base_layer.weight, self.base_layer.bias
        P = {n: v.detach().double() for n, v in self.lily_params().items()}
        P["base.W"] = w.detach().double().t()
        P["base.b"] = b.detach().double() if b is not None else torch.zeros(w.shape[0], dtype=torch.float64, device=w.device)
        with torch.no_grad():
            values = self._init(None, P, self.dims)
            for key, v in values.items():
                name = key[len("init:"):]
                if name in skip:
                    continue
                spec = self.PARAMS[name]
                p = self._get(spec["key"])
                p.copy_(spec["from_ours"](self, v.to(p.dtype), tuple(spec["shape"](self.dims))))

    def _put(self, key, p):
        head, _, tail = key.partition(".")
        if not tail:
            self.register_parameter(head, p)
            return
        if head not in self._modules:
            self.add_module(head, nn.Module())
        self._modules[head].register_parameter(tail, p)

    def _get(self, key):
        head, _, tail = key.partition(".")
        return getattr(self._modules[head], tail) if tail else getattr(self, head)

    def lily_params(self):
        """Every parameter in Lily's layout ([In, r], [E, r, Out], DoRA's offset dm), by Lily's name."""
        return {n: s["to_ours"](self, self._get(s["key"]), tuple(s["shape"](self.dims))) for n, s in self.PARAMS.items()}

    def _inputs(self, like):
        # The program's run-time inputs besides x: the step counter and the forward's random draws
        def I(name, shape):
            if name == "step":
                return self.lily_step.to(dtype=like.dtype, device=like.device)
            if self.draws is not None:
                return self.draws(name, shape).to(dtype=like.dtype, device=like.device)
            return torch.rand(shape, dtype=like.dtype, device=like.device)
        return I

    def _adapted(self, x2, train=None):
        """The layer's output for rows x2; train: the training program (dropout on), default self.training."""
        train = self.training if train is None else train
        D = dict(self.dims, N=x2.shape[0])
        if "N" in self.FIXED_DIMS and D["N"] != self.FIXED_DIMS["N"][0]:
            raise ValueError(f"{self.ADAPTER} was exported for N={self.FIXED_DIMS['N'][0]} rows only ({self.FIXED_DIMS['N'][1]}); got {D['N']}")
        w, b = self.base_layer.weight, self.base_layer.bias
        P = self.lily_params()
        P["base.W"] = w.t()
        P["base.b"] = b if b is not None else torch.zeros(w.shape[0], dtype=w.dtype, device=w.device)
        I = self._inputs(x2)
        if self._backward is None:
            out = (self._forward_train if train else self._forward)(x2, P, D, None, I)
        else:
            names = tuple(P)
            fns = (self._forward_train, self._backward_train) if train else (self._forward, self._backward)
            out = _Compiled.apply(type(self), fns, D, I, names, x2, *(P[n] for n in names))
        return F.linear(x2, w, b) + out if self.FORM == "delta" else out

    def forward(self, x):
        if self.merged:
            return self.base_layer(x)
        y = self._adapted(x.reshape(-1, x.shape[-1]))
        return y.reshape(*x.shape[:-1], y.shape[-1])

    def merge(self):
        """Fold the adapter into the base layer: W' = f(I) − f(0), b' = f(0) (exact for affine adapters)."""
        if not self.MERGEABLE:
            raise RuntimeError(f"{self.ADAPTER} cannot be merged: {self.MERGE_REASON}")
        if self.merged:
            return
        w, b = self.base_layer.weight, self.base_layer.bias
        with torch.no_grad():
            # the evaluation program (dropout off), at the current step
            b0 = self._adapted(torch.zeros(1, w.shape[1], dtype=w.dtype, device=w.device), train=False)[0]
            W1 = self._adapted(torch.eye(w.shape[1], dtype=w.dtype, device=w.device), train=False) - b0
            if b is None and bool((b0 != 0).any()):
                raise RuntimeError(f"{self.ADAPTER} adds a bias, and the base layer has none to merge it into")
            self._unmerged = (w.detach().clone(), None if b is None else b.detach().clone())
            w.copy_(W1.t())
            if b is not None:
                b.copy_(b0)
        self.merged = True

    def unmerge(self):
        """Restore the base layer's own weights (kept at merge: exact, whatever the adapter does)."""
        if not self.merged:
            return
        with torch.no_grad():
            self.base_layer.weight.copy_(self._unmerged[0])
            if self._unmerged[1] is not None:
                self.base_layer.bias.copy_(self._unmerged[1])
        self._unmerged = None
        self.merged = False


def advance_step(model, n=1):
    """Count n optimiser steps on every adapter of model (programs that read "step": SingLoRA's ramp);
    call it after each optimizer.step()."""
    for m in model.modules():
        if isinstance(m, LilyAdapter):
            m.lily_step += n


def param_groups(model, lr):
    """Optimiser parameter groups with each adapter's declared learning-rate ratios ("lr * ratio", LoRA+):
    torch.optim.AdamW(param_groups(model, 1e-4))."""
    ratio, seen = {}, set()
    for m in model.modules():
        if isinstance(m, LilyAdapter):
            for name, spec in m.PARAMS.items():
                ratio[id(m._get(spec["key"]))] = m.LR_RATIOS.get(name, 1.0)
    groups = {}
    for p in model.parameters():
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            groups.setdefault(ratio.get(id(p), 1.0), []).append(p)
    return [{"params": ps, "lr": lr * r} for r, ps in groups.items()]


def _add(root, path, thing):
    # A module or parameter at a dotted path, making plain containers on the way ("blocks.0.fc")
    *parents, last = path.split(".")
    for p in parents:
        if p not in root._modules:
            root.add_module(p, nn.Module())
        root = root._modules[p]
    (root.add_module if isinstance(thing, nn.Module) else root.register_parameter)(last, thing)


def model_parameter(model, name):
    """A parameter by its PyTorch name, also once its Linear is wrapped ("fc1.weight" → "fc1.base_layer.weight")."""
    try:
        return model.get_parameter(name)
    except AttributeError:
        path, _, leaf = name.rpartition(".")
        return model.get_parameter(f"{path}.base_layer.{leaf}")


class _Leaves(dict):
    # The model's tensors by Lily's leaf name, looked up on use (so wrapped layers do not matter)
    def __init__(self, model):
        super().__init__()
        self.model = model

    def __missing__(self, leaf):
        name, transpose = self.model.LEAVES[leaf]
        p = model_parameter(self.model, name)
        return p.t() if transpose else p


class LilyModel(nn.Module):
    """A Lily model: nn.Linear / nn.LayerNorm layers under PyTorch's names, the forward compiled from Lily."""

    def __init__(self):
        super().__init__()
        for path, kind, shape in self.LAYERS:
            _add(self, path, nn.Linear(*shape) if kind == "Linear" else nn.LayerNorm(shape[0], eps=1e-5))
        for path, (shape, init, args) in self.PARAMS.items():
            _add(self, path, nn.Parameter(_INIT[init](shape, args).to(torch.get_default_dtype())))
        # Adapters attached in the source: wrap those layers; one Lily leaf is one nn.Parameter
        seen, self.adapter_leaves = {}, {}
        for path, adapter, hypers, leaves in self.ATTACHED:
            cls = ADAPTERS[adapter]
            shared = {n: seen[leaf] for n, leaf in leaves.items() if leaf in seen}
            w = cls(self.get_submodule(path), shared=shared, **{k: v for k, v in hypers.items() if k in cls.HYPERS})
            parent, _, last = path.rpartition(".")
            setattr(self.get_submodule(parent) if parent else self, last, w)
            for n, leaf in leaves.items():
                seen.setdefault(leaf, w._get(cls.PARAMS[n]["key"]))
                self.adapter_leaves.setdefault(leaf, (path, n))
        if self.ATTACHED:
            # With adapters attached, the base (layers, norms, the model's own parameters) is frozen
            for p in self.parameters():
                p.requires_grad_(False)
            for path, (layer, n) in self.adapter_leaves.items():
                w = self.get_submodule(layer)
                w._get(w.PARAMS[n]["key"]).requires_grad_(w.PARAMS[n]["trainable"])

    def forward(self, x):
        D = {d: x.shape[i] for i, d in enumerate(self.X_DIMS) if d is not None}
        return self._forward(x, _Leaves(self), D, self.get_submodule)


def _match(targets, path):
    # PEFT's target_modules: a list entry matches the path or a '.'-suffix of it; a string is a
    # regular expression over the whole path (its group is the last path component)
    if isinstance(targets, str):
        return path.split(".")[-1] if re.fullmatch(targets, path) else None
    for t in targets:
        if path == t or path.endswith("." + t):
            return t
    return None


def inject(model, target_modules, adapter=None, exclude_modules=None, **hypers):
    """Wrap every matching nn.Linear of model, PEFT's way: layers are grouped by (matched entry, weight
    shape) in model order; a parameter shared across layers is the group's first layer's, one shared
    every k layers is layer k*(i//k)'s (one nn.Parameter). The base model is frozen."""
    cls = ADAPTERS[adapter] if isinstance(adapter, str) else adapter or next(iter(ADAPTERS.values()))
    groups, wrapped = {}, []
    # already wrapped layers of this adapter (an earlier inject): model-wide parameters join theirs
    wrapped_before = [m for m in model.modules() if type(m) is cls]
    for path, module in list(model.named_modules()):
        if not isinstance(module, nn.Linear) or not path or _match(target_modules, path) is None:
            continue
        if exclude_modules is not None and _match(exclude_modules, path) is not None:
            continue
        group = groups.setdefault((_match(target_modules, path), tuple(module.weight.shape)), [])
        i, shared = len(group), {}
        for name, spec in cls.PARAMS.items():
            kind = spec["sharing"]
            if kind[0] == "across" and group:
                shared[name] = group[0]._get(spec["key"])
            elif kind[0] == "model" and (wrapped_before or wrapped):
                shared[name] = (wrapped_before or wrapped)[0]._get(spec["key"])
            elif kind[0] == "every":
                k = kind[1] if isinstance(kind[1], int) else int({**cls.HYPERS, **hypers}[kind[1]])
                if k < 1:
                    raise ValueError(f"shared every {k} layers: k must be at least 1")
                if k * (i // k) < i:
                    shared[name] = group[k * (i // k)]._get(spec["key"])
        w = cls(module, shared=shared, **hypers)
        group.append(w)
        parent, _, last = path.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, last, w)
        wrapped.append(w)
    if not wrapped:
        raise ValueError(f"no nn.Linear of the model matches target_modules={target_modules!r}")
    for p in model.parameters():
        p.requires_grad_(False)
    for w in wrapped:
        for spec in w.PARAMS.values():
            w._get(spec["key"]).requires_grad_(spec["trainable"])
    return model


def _adapter_keys(model, prefix):
    for path, m in model.named_modules():
        if isinstance(m, LilyAdapter):
            for spec in m.PARAMS.values():
                yield f"{prefix}{path}.{spec['key']}", m._get(spec["key"]), f"{path}.{spec['key']}"


def peft_config(model, target_modules):
    """PEFT's adapter_config.json fields for the adapters injected into model (one method per model)."""
    kinds = {type(m) for m in model.modules() if isinstance(m, LilyAdapter)}
    if len(kinds) != 1:
        raise ValueError(f"a PEFT folder holds one method; the model has {len(kinds)}")
    cls = kinds.pop()
    if cls.PEFT_CONFIG is None:
        raise ValueError(f"PEFT has no {cls.ADAPTER}: save its tensors with peft_state_dict (Lily's names and layouts)")
    hypers = next(m.hypers for m in model.modules() if isinstance(m, LilyAdapter))
    config = dict(cls.PEFT_CONFIG)
    config.update({cls.PEFT_HYPERS[k]: v for k, v in hypers.items() if k in cls.PEFT_HYPERS})
    config["target_modules"] = target_modules if isinstance(target_modules, str) else sorted(set(target_modules))
    return config


def save_safetensors(path, tensors, metadata=None):
    """safetensors as PEFT writes it (u64 header length, JSON header padded to 8 bytes, F32 data by name)."""
    import json
    import struct

    header, offset, blobs = {"__metadata__": metadata or {"format": "pt"}}, 0, []
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous().cpu()
        blob = t.numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def save_peft_folder(model, directory, target_modules):
    """adapter_model.safetensors + adapter_config.json, as PEFT's save_pretrained writes them."""
    import json
    import os

    os.makedirs(directory, exist_ok=True)
    config = peft_config(model, target_modules)
    save_safetensors(os.path.join(directory, "adapter_model.safetensors"), peft_state_dict(model))
    with open(os.path.join(directory, "adapter_config.json"), "w") as f:
        f.write(json.dumps(config, indent=2, sort_keys=True))


def peft_state_dict(model, prefix="base_model.model."):
    """The adapter tensors as PEFT's save_pretrained writes them: one copy per layer, shared ones included."""
    return {k: p.detach().clone() for k, p, _ in _adapter_keys(model, prefix)}


def load_peft_state_dict(model, state, prefix="base_model.model."):
    """Load a PEFT adapter state dict (adapter_model.safetensors) with load_state_dict(strict=True):
    every key must be present and none extra; the copies of a shared tensor must agree."""
    entries = list(_adapter_keys(model, prefix))
    expected = {k for k, _, _ in entries}
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise KeyError(f"the adapter state dict does not match the model: missing {missing[:4]}, unexpected {unexpected[:4]}")
    first = {}
    for k, p, _ in entries:
        if id(p) in first and not torch.equal(state[first[id(p)]], state[k]):
            raise ValueError(f"{first[id(p)]} and {k} are one shared tensor but hold different values")
        first.setdefault(id(p), k)
    full = model.state_dict()
    for k, p, local in entries:
        full[local] = state[k]
    model.load_state_dict(full, strict=True)
    return model
`;
