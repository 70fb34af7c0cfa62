"""Loads a PEFT golden folder (../shared/peft-fixtures/<case>) into a model with an exported Lily
module injected, with load_state_dict(strict=True), and compares with PEFT's own outputs.
Usage: peft_fixture_check.py MODULE.py CASE_DIR '{"targets": [...], "hypers": {...}}'  → JSON on stdout."""
import importlib.util
import json
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F64": torch.float64}


def load_safetensors(path):
    # The safetensors layout (u64 header length, JSON header, raw little-endian data) read with torch only
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    body = data[8 + n :]
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        a, b = h["data_offsets"]
        out[name] = torch.frombuffer(bytearray(body[a:b]), dtype=DTYPES[h["dtype"]]).reshape(h["shape"]).clone()
    return out


def module_from(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    exported = module_from(sys.argv[1], "exported")
    case = sys.argv[2]
    opts = json.loads(sys.argv[3])
    fixture = module_from(f"{case}/model.py", "fixture_model")
    expected = load_safetensors(f"{case}/expected.safetensors")
    x = load_safetensors(f"{case}/inputs.safetensors")["x"]
    out = {}
    for dtype, key, tol_key in ((torch.float64, "y_adapted_f64", "f64"), (torch.float32, "y_adapted", "f32")):
        model = fixture.make_model()
        model.load_state_dict(load_safetensors(f"{case}/base.safetensors"), strict=True)
        exported.inject(model, opts["targets"], **opts["hypers"])
        exported.load_peft_state_dict(model, load_safetensors(f"{case}/adapter/adapter_model.safetensors"))
        model.to(dtype)
        with torch.no_grad():
            y = model(x.to(dtype))
        want = expected[key]
        out[tol_key] = float(((y - want).abs() / want.abs().clamp(min=1)).max())
        # Saving gives back PEFT's file: the same keys, every shared copy, the same values
        saved = exported.peft_state_dict(model)
        original = load_safetensors(f"{case}/adapter/adapter_model.safetensors")
        out["roundtrip_keys"] = sorted(saved) == sorted(original)
        out["roundtrip_max"] = max(float((saved[k].to(torch.float64) - original[k].to(torch.float64)).abs().max()) for k in original)
        out["trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
