// The Python side of `lily export --check` and the export tests (run as `python3 -c`, so the
// installed package needs no separate file): loads exported modules, runs them on the given values.
export const CHECK_HARNESS_PY = String.raw`"""Runs exported Lily modules (lily export --to torch) on given values, for "lily export --check"
and the tests. Reads a JSON job from stdin, writes JSON results to stdout; all numbers float64.

Job: {"cases": [{"module": path, "adapter": name, "hypers": {...}, "In": n, "Out": n,
        "W": [In, Out] (ours), "b": [Out], "x": [N, In], "dy": [N, Out], "params": {name: ours},
        "step": the optimiser step to run at, "draws": {name: values} (evaluation-mode draws), "train": {"draws": {name: values}} | null (also check training mode),
        "init_from": {"W", "b", "params": {name: ours}} | null (recompute the "from" parameters),
        "adamw": {"lr", "betas", "eps", "weight_decay", "t": [[N, Out]] per step, "draws": [{name: values}] per step} | null}]}
Result per case: {"y", "grads": {name: ours}, "grad_x", "init_ok", "train": {"y", "grads", "grad_x"} | null,
        "init_from": {name: ours} | null, "adamw": {name: ours} | null} or {"error"}.
The forward checks run in evaluation mode (layer.eval()); "train" in training mode with the random draws fed.
Tensors travel as {"shape": [...], "data": [...]} (row-major)."""
import importlib.util
import json
import sys
import traceback

import torch
from torch import nn

torch.set_num_threads(1)


def tensor(t, dtype=torch.float64):
    return torch.tensor(t["data"], dtype=dtype).reshape(t["shape"])


def plain(t):
    t = t.detach().to(torch.float64).contiguous()
    return {"shape": list(t.shape), "data": t.reshape(-1).tolist()}


_modules = {}


def load(path):
    if path not in _modules:
        spec = importlib.util.spec_from_file_location(f"lily_export_{len(_modules)}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        _modules[path] = mod
    return _modules[path]


def make_layer(mod, case, dtype):
    base = nn.Linear(case["In"], case["Out"])
    layer = mod.ADAPTERS[case["adapter"]](base, **case["hypers"]).to(dtype)
    with torch.no_grad():
        base.weight.copy_(tensor(case["W"], dtype).t())
        base.bias.copy_(tensor(case["b"], dtype))
        for name, spec in layer.PARAMS.items():
            shape = tuple(spec["shape"](layer.dims))
            layer._get(spec["key"]).copy_(spec["from_ours"](layer, tensor(case["params"][name], dtype), shape))
    return layer


def init_ok(mod, case):
    # Fresh initialisation (our distributions): finite, the declared shapes, PEFT's stored shapes.
    layer = mod.ADAPTERS[case["adapter"]](nn.Linear(case["In"], case["Out"]), **case["hypers"])
    for name, spec in layer.PARAMS.items():
        v = layer._get(spec["key"])
        if not bool(torch.isfinite(v).all()):
            return f"{name} is not finite after init"
        if tuple(spec["to_ours"](layer, v, tuple(spec["shape"](layer.dims))).shape) != tuple(case["params"][name]["shape"]):
            return f"{name} has the wrong shape after init"
    return True


def merge_check(layer, x, y):
    # Mergeable: the merged layer gives the same output, unmerge restores the base exactly;
    # otherwise merge() refuses with the compiler's reason.
    w0 = layer.base_layer.weight.detach().clone()
    if not layer.MERGEABLE:
        try:
            layer.merge()
        except RuntimeError as e:
            return {"mergeable": False, "refused": str(e)}
        return {"mergeable": False, "refused": None}
    layer.merge()
    with torch.no_grad():
        err = float(((layer(x) - y).abs() / y.abs().clamp(min=1)).max())
    layer.unmerge()
    return {"mergeable": True, "error": err, "restored": bool(torch.equal(layer.base_layer.weight, w0))}


def run_model(case):
    # A whole model: our weights by leaf name into its PyTorch-named parameters, then y and every gradient
    mod = load(case["module"])
    model = mod.MODELS[case["model"]]().double().eval()  # the reference is the evaluation program (dropout off)
    def adapter_param(leaf):
        layer, n = model.adapter_leaves[leaf]
        w = model.get_submodule(layer)
        return w, w.PARAMS[n], w._get(w.PARAMS[n]["key"])

    with torch.no_grad():
        for leaf, (name, transpose) in model.LEAVES.items():
            v = tensor(case["leaves"][leaf])
            mod.model_parameter(model, name).copy_(v.t() if transpose else v)
        for leaf in model.adapter_leaves:
            w, spec, p = adapter_param(leaf)
            p.copy_(spec["from_ours"](w, tensor(case["leaves"][leaf]), tuple(spec["shape"](w.dims))))
    x = tensor(case["x"]).requires_grad_(True)
    y = model(x)
    (y * tensor(case["dy"])).sum().backward()
    grads = {}
    for leaf, (name, transpose) in model.LEAVES.items():
        g = mod.model_parameter(model, name).grad
        if g is not None:
            grads[leaf] = plain(g.t() if transpose else g)
    for leaf in model.adapter_leaves:
        w, spec, p = adapter_param(leaf)
        if p.grad is not None:
            grads[leaf] = plain(spec["grad_to_ours"](p.grad, tuple(spec["shape"](w.dims))))
    names = sorted(n for n, _ in model.state_dict().items())
    return {"y": plain(y), "grads": grads, "grad_x": plain(x.grad), "state_dict": names}


def feed(layer, draws, dtype):
    # The forward's random numbers as given (our reference's), by draw name
    layer.draws = lambda name, shape: tensor(draws[name], dtype)


def forward_and_grads(layer, case):
    x = tensor(case["x"]).requires_grad_(True)
    y = layer(x)
    (y * tensor(case["dy"])).sum().backward()
    grads = {}
    for name, spec in layer.PARAMS.items():
        p = layer._get(spec["key"])
        if spec["trainable"]:
            grads[name] = plain(spec["grad_to_ours"](p.grad, tuple(spec["shape"](layer.dims))))
    return x, y, {"y": plain(y), "grads": grads, "grad_x": plain(x.grad)}


def init_from(mod, case):
    # The "from" parameters recomputed in torch from our base weight and our other initial values
    layer = make_layer(mod, dict(case, W=case["init_from"]["W"], b=case["init_from"]["b"], params={**case["params"], **case["init_from"]["params"]}), torch.float64)
    layer.init_from_base()
    ours = layer.lily_params()
    return {name: plain(ours[name]) for name, spec in layer.PARAMS.items() if spec["init"] is None}


def run(case):
    if case.get("model"):
        return run_model(case)
    mod = load(case["module"])
    layer = make_layer(mod, case, torch.float64).eval()
    layer.lily_step.fill_(case["step"])
    feed(layer, case["draws"], torch.float64)  # random numbers an evaluation may draw too (rare)
    x, y, out = forward_and_grads(layer, case)
    out.update({"init_ok": init_ok(mod, case), "merge": merge_check(layer, x.detach(), y.detach()), "train": None, "init_from": None, "adamw": None})
    if case.get("train"):
        layer = make_layer(mod, case, torch.float64).train()
        layer.lily_step.fill_(case["step"])
        feed(layer, case["train"]["draws"], torch.float64)
        out["train"] = forward_and_grads(layer, case)[2]
    if case.get("init_from"):
        out["init_from"] = init_from(mod, case)
    a = case.get("adamw")
    if a:
        layer = make_layer(mod, case, torch.float32).train()
        # lr · ratio where the adapter declares one (LoRA+), as our optimiser does
        opt = torch.optim.AdamW(mod.param_groups(layer, a["lr"]), betas=tuple(a["betas"]), eps=a["eps"], weight_decay=a["weight_decay"])
        xf = tensor(case["x"], torch.float32)
        for t, draws in zip(a["t"], a["draws"]):
            feed(layer, draws, torch.float32)
            opt.zero_grad()
            loss = ((layer(xf) - tensor(t, torch.float32)) ** 2).mean()
            loss.backward()
            opt.step()
            mod.advance_step(layer)
        with torch.no_grad():
            ours = layer.lily_params()
        out["adamw"] = {n: plain(ours[n]) for n, s in layer.PARAMS.items() if s["trainable"]}
    return out


def main():
    job = json.load(sys.stdin)
    results = []
    for case in job["cases"]:
        try:
            results.append(run(case))
        except Exception as e:  # reported per case, with the Python traceback for the user
            results.append({"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()})
    json.dump({"torch": torch.__version__, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
`;
