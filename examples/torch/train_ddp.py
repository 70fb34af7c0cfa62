"""Train an exported Lily adapter on an exported Lily model with torch.distributed (DDP), on the
Fashion-MNIST images embedded in examples/data, and save a PEFT folder.

    npx lily export examples/fashion.lily --model Base -o base_model.py
    npx lily export stdlib/adapters/lily.lily --adapter Lily --dims r=4,E=4 -o lily_adapter.py
    /usr/bin/python3 examples/torch/train_ddp.py --model base_model.py --adapter lily_adapter.py \\
        --targets fc1,fc2 --hypers r=4,E=4 --nproc 2 --steps 200 --out lily-peft

Here: gloo, --nproc processes on one CPU machine. With GPUs: --backend nccl (one process per GPU).
Across machines: start it under torchrun (it reads RANK / WORLD_SIZE / MASTER_ADDR from the
environment and then ignores --nproc). The global batch is split evenly over the processes;
DDP averages their gradients, so for adapters that treat rows independently (LoRA, …) N processes
× batch/N rows give the same update as one process × the whole batch. Lily's router averages over
the rows of each call (as PEFT's does), so under DDP each process mixes its experts by its own
rows: the same as one process running the batch as N micro-batches (--micro-batches N).
"""
import argparse
import contextlib
import gzip
import importlib.util
import json
import os
import socket
import struct

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data", "fashion-mnist")


def load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def read_idx(path):
    # IDX: magic (0, 0, dtype 0x08 = u8, rank), then big-endian u32 sizes, then the bytes
    with gzip.open(path, "rb") as f:
        data = f.read()
    rank = data[3]
    shape = struct.unpack(f">{rank}I", data[4 : 4 + 4 * rank])
    return torch.frombuffer(bytearray(data[4 + 4 * rank :]), dtype=torch.uint8).reshape(shape)


def fashion(split):
    images = read_idx(os.path.join(DATA, f"{split}-images-idx3-ubyte.gz")).reshape(-1, 784).double() / 255
    labels = read_idx(os.path.join(DATA, f"{split}-labels-idx1-ubyte.gz")).long()
    return images, labels


def load_base(model, path, model_mod):
    # A base with PyTorch names (model.state_dict()), or one written by `lily train --save` (Lily's
    # names in its lily_paths metadata, 2-D weights stored [out, in])
    tensors, meta = read_safetensors(path)
    own = model.state_dict()
    if set(tensors) <= set(own):
        own.update(tensors)
        model.load_state_dict(own, strict=True)
        return
    paths = json.loads(meta.get("lily_paths", "{}"))
    with torch.no_grad():
        for stored, t in tensors.items():
            leaf = paths.get(stored)
            if leaf not in model.LEAVES:
                raise KeyError(f"{path}: {stored} is not a weight of {type(model).__name__}")
            ours = t.t() if t.dim() == 2 else t
            name, transpose = model.LEAVES[leaf]
            model_mod.model_parameter(model, name).copy_(ours.t() if transpose else ours)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    body = data[8 + n :]
    dtypes = {"F32": torch.float32, "F64": torch.float64}
    return {k: torch.frombuffer(bytearray(body[h["data_offsets"][0] : h["data_offsets"][1]]), dtype=dtypes[h["dtype"]]).reshape(h["shape"]).clone() for k, h in header.items()}, meta


def parse_hypers(text):
    out = {}
    for part in filter(None, (text or "").split(",")):
        k, v = part.split("=")
        out[k] = v == "true" if v in ("true", "false") else (int(v) if v.lstrip("-").isdigit() else float(v))
    return out


def worker(rank, world, args, port):
    if "RANK" not in os.environ:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group(args.backend, rank=rank, world_size=world)
    torch.manual_seed(args.seed)  # every process builds the same model (DDP also broadcasts rank 0's)
    torch.set_num_threads(1)
    dtype = torch.float64 if args.double else torch.float32
    model_mod = load_module(args.model, "lily_model")
    adapter_mod = load_module(args.adapter, "lily_adapter")
    model = model_mod.MODELS[args.model_name or next(iter(model_mod.MODELS))]()
    if args.base:
        load_base(model, args.base, model_mod)
    targets = args.targets.split(",")
    adapter_mod.inject(model, targets, adapter=args.adapter_name, **parse_hypers(args.hypers))
    device = torch.device(f"cuda:{rank % torch.cuda.device_count()}") if args.backend == "nccl" else torch.device("cpu")
    model.to(device=device, dtype=dtype)
    ddp = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    # the trainable parameters, with the adapter's declared learning-rate ratios (LoRA+'s lr * ratio)
    opt = torch.optim.AdamW(adapter_mod.param_groups(model, args.lr), weight_decay=args.weight_decay)
    x_all, y_all = fashion("train")
    if args.batch % (world * args.micro_batches):
        raise SystemExit(f"--batch {args.batch} must split evenly over {world} processes × {args.micro_batches} micro-batches")
    local = args.batch // world
    g = torch.Generator().manual_seed(args.seed)
    for step in range(args.steps):
        rows = torch.randint(0, len(y_all), (args.batch,), generator=g)[rank * local : (rank + 1) * local]
        x, y = x_all[rows].to(device, dtype), y_all[rows].to(device)
        opt.zero_grad()
        micro = local // args.micro_batches
        for k in range(args.micro_batches):
            # accumulate locally; DDP all-reduces (averages over processes) on the last micro-batch
            with ddp.no_sync() if k < args.micro_batches - 1 else contextlib.nullcontext():
                loss = F.cross_entropy(ddp(x[k * micro : (k + 1) * micro]), y[k * micro : (k + 1) * micro]) / args.micro_batches
                loss.backward()
        opt.step()
        adapter_mod.advance_step(model)  # programs that read the step (SingLoRA's ramp)
        if rank == 0 and (step + 1) % max(1, args.steps // 10) == 0:
            print(f"step {step + 1}: loss {loss.item() * args.micro_batches:.4f}", flush=True)
    if rank == 0:
        xt, yt = fashion("t10k")
        model.eval()  # dropout off
        with torch.no_grad():
            logits = model.double()(xt.to(device)).cpu()
        acc = (logits.argmax(1) == yt).double().mean().item()
        print(f"test: loss {F.cross_entropy(logits, yt).item():.6f}, accuracy {100 * acc:.1f}% ({len(yt)} images; trained on {world} processes)")
        if args.out:
            adapter_mod.save_peft_folder(model, args.out, targets)
            print(f"saved {args.out}/adapter_model.safetensors and adapter_config.json")
    dist.barrier()
    dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a module from `lily export --model NAME`")
    p.add_argument("--model-name", help="the model class in it (default: the first)")
    p.add_argument("--adapter", required=True, help="a module from `lily export --adapter NAME`")
    p.add_argument("--adapter-name", help="the adapter class in it (default: the first)")
    p.add_argument("--targets", required=True, help="PEFT target_modules, comma-separated (fc1,fc2)")
    p.add_argument("--hypers", default="", help="adapter hyper-parameters, r=4,E=4")
    p.add_argument("--base", help="base weights (.safetensors): PyTorch names, or written by lily train --save")
    p.add_argument("--nproc", type=int, default=2, help="processes to start here (ignored under torchrun)")
    p.add_argument("--backend", default="gloo", choices=["gloo", "nccl"])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch", type=int, default=64, help="global batch (split over the processes)")
    p.add_argument("--micro-batches", type=int, default=1, help="split each process's rows into this many accumulated micro-batches")
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--double", action="store_true", help="train in float64")
    p.add_argument("--out", help="save the adapter here as a PEFT folder")
    args = p.parse_args()
    if "RANK" in os.environ:  # torchrun
        worker(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), args, None)
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    if args.nproc == 1:
        worker(0, 1, args, port)
    else:
        mp.spawn(worker, args=(args.nproc, args, port), nprocs=args.nproc, join=True)


if __name__ == "__main__":
    main()
