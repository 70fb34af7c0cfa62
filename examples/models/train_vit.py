"""Pre-train the small ViT of stdlib/models/vit.lily on the full Fashion-MNIST (60,000 training images)
with PyTorch, and save its weights with PyTorch's module names as safetensors.

    apt-get install -y python3-torch dataset-fashion-mnist
    /usr/bin/python3 examples/models/train_vit.py            # writes examples/models/vit.safetensors

One thread, fixed seed; the module names (embed, cls, pos, blocks.N.attn.q, …) are the .lily model's
parameter paths, so `lily eval stdlib/models/vit.lily --model ViT --base examples/models/vit.safetensors`
computes the same function. GELU is the tanh form and LayerNorm's eps 1e-5, as Lily's builtins.
"""
import argparse, gzip, json, math, os, struct, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = '/usr/share/datasets/fashion-mnist'


def idx(path):
    with gzip.open(path, 'rb') as f:
        raw = f.read()
    ndim = raw[3]
    dims = struct.unpack('>' + 'I' * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split):
    x = idx(f'{DATA}/{split}-images-idx3-ubyte.gz').reshape(-1, 784).astype(np.float32) / 255
    y = idx(f'{DATA}/{split}-labels-idx1-ubyte.gz').astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x):
        b, t, d = x.shape
        split = lambda y: y.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.heads), dim=-1)
        return self.o((a @ v).transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, d, heads, f):
        super().__init__()
        self.ln1, self.attn, self.ln2 = nn.LayerNorm(d), Attention(d, heads), nn.LayerNorm(d)
        self.fc1, self.fc2 = nn.Linear(d, f), nn.Linear(f, d)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate='tanh'))


class ViT(nn.Module):
    """28×28 images as 16 patches of 7×7, a class token, learned positions, pre-norm blocks."""

    def __init__(self, d=64, heads=4, f=128, layers=2, classes=10):
        super().__init__()
        self.embed = nn.Linear(49, d)
        self.cls = nn.Parameter(torch.zeros(d))
        self.pos = nn.Parameter(torch.randn(17, d) * 0.02)
        self.blocks = nn.ModuleList(Block(d, heads, f) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        b = x.shape[0]
        patches = x.view(b, 4, 7, 4, 7).permute(0, 1, 3, 2, 4).reshape(b, 16, 49)
        t = torch.cat([self.cls.expand(b, 1, -1), self.embed(patches)], dim=1) + self.pos
        for blk in self.blocks:
            t = blk(t)
        return self.head(self.ln(t)[:, 0])


def save_safetensors(path, tensors, metadata):
    header, blobs, offset = {'__metadata__': metadata}, [], 0
    for name, t in tensors.items():
        f64 = t.dtype == torch.float64
        data = t.detach().contiguous().to(torch.float64 if f64 else torch.float32).numpy().tobytes()
        header[name] = {'dtype': 'F64' if f64 else 'F32', 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        right = sum((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item() for i in range(0, len(x), 1000))
    model.train()
    return right / len(x)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--epochs', type=int, default=6)
    p.add_argument('--batch', type=int, default=128)
    p.add_argument('--lr', type=float, default=3e-3)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', default=os.path.join(os.path.dirname(__file__), 'vit.safetensors'))
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    xtr, ytr = load('train')
    xte, yte = load('t10k')
    model = ViT()
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.05)
    steps = a.epochs * (len(xtr) // a.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=steps, pct_start=0.1)
    start = time.time()
    for epoch in range(a.epochs):
        perm = torch.randperm(len(xtr))
        for i in range(len(xtr) // a.batch):
            j = perm[i * a.batch:(i + 1) * a.batch]
            loss = F.cross_entropy(model(xtr[j]), ytr[j])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f'epoch {epoch + 1}/{a.epochs}: loss {loss.item():.3f}, test accuracy {100 * accuracy(model, xte, yte):.2f}%, {time.time() - start:.0f} s', flush=True)
    acc = accuracy(model, xte, yte)
    params = sum(t.numel() for t in model.parameters())
    save_safetensors(a.out, model.state_dict(), {'model': 'stdlib/models/vit.lily:ViT', 'test_accuracy': f'{acc:.4f}', 'epochs': str(a.epochs), 'seed': str(a.seed)})
    print(f'{params} parameters, test accuracy {100 * acc:.2f}% on the 10,000 test images; wrote {a.out}')


if __name__ == '__main__':
    main()
