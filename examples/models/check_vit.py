"""PyTorch's side of the check that stdlib/models/vit.lily computes the same function as the
PyTorch ViT it was trained as: load examples/models/vit.safetensors into train_vit.ViT, print its
accuracy on the 10,000 Fashion-MNIST test images, and write examples/models/vit-golden.safetensors
(16 test images and PyTorch's float64 logits for them), which compiler/cli/compare/vit.test.ts
compares with `lily run`.

    /usr/bin/python3 examples/models/check_vit.py
    npx lily eval stdlib/models/vit.lily --model ViT --base examples/models/vit.safetensors --data fashion-mnist-full
"""
import json, os, struct
import numpy as np
import torch
import train_vit

HERE = os.path.dirname(os.path.abspath(__file__))


def read_safetensors(path):
    raw = open(path, 'rb').read()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        a, b = info['data_offsets']
        out[name] = torch.from_numpy(np.frombuffer(raw[8 + n + a:8 + n + b], dtype=np.float32).reshape(info['shape']).copy())
    return out


def main():
    torch.set_num_threads(1)
    model = train_vit.ViT()
    model.load_state_dict(read_safetensors(f'{HERE}/vit.safetensors'))
    x, y = train_vit.load('t10k')
    print(f'PyTorch (float32): test accuracy {100 * train_vit.accuracy(model, x, y):.2f}% on {len(x)} images')
    model = model.double().eval()
    with torch.no_grad():
        logits = model(x[:16].double())
    train_vit.save_safetensors(f'{HERE}/vit-golden.safetensors', {'x': x[:16].double(), 'y': logits}, {'source': 'examples/models/check_vit.py'})


if __name__ == '__main__':
    main()
