"""Train a compiled spec for N steps on synthetic data with the paper's SGD settings.

    python examples/train.py specs/lenet5.yaml --steps 50 --batch 32
    torchrun --nproc_per_node 2 examples/train.py specs/lenet5.yaml --steps 50   # DistributedDataParallel, gloo

SGD with momentum 0.9 and weight decay 5e-4 as in Krizhevsky et al. 2012 (Section 5), on logits (the spec's final
softmax dropped). `alexspec train` is the full version: real data, both backends, checkpoints, held-out metrics. Synthetic data: a fixed set of
random images whose labels come from a random linear "teacher", so the loss can go down. Under torchrun each rank
draws a different shard of the data; DistributedDataParallel averages gradients, so every rank holds the same weights.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F

import alexnet_spec


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", help="a YAML spec file")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=16, help="images per step and per process")
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], help="LAYER.FIELD=VALUE override, as in the CLI")
    parser.add_argument("--threads", type=int, default=0, help="torch threads per process (0: torch's default)")
    return parser.parse_args(argv)


def synthetic_batches(shape, classes: int, batch: int, rank: int, seed: int):
    """An endless stream of (images, labels); labels from a fixed random teacher so there is something to learn."""
    generator = torch.Generator().manual_seed(seed)
    teacher = torch.randn(classes, int(torch.tensor(shape).prod()), generator=generator)
    pool = torch.randn(64 * batch, *shape, generator=generator)
    labels = (pool.flatten(1) @ teacher.T).argmax(1)
    step = 0
    while True:
        start = ((step * dist_world_size() + rank) * batch) % (pool.shape[0] - batch + 1)
        yield pool[start:start + batch], labels[start:start + batch]
        step += 1


def dist_world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def weights_digest(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def progress(step: int, total: int, loss: float, rate: float) -> str:
    filled = int(30 * step / total)
    return f"\r[{'#' * filled}{'.' * (30 - filled)}] step {step}/{total}  loss {loss:.4f}  {rate:.1f} img/s"


def main(argv=None) -> int:
    args = parse_args(argv)
    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    if distributed:
        dist.init_process_group("gloo")
    rank = dist.get_rank() if distributed else 0
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # the same initial weights on every rank (DDP also broadcasts rank 0's)

    spec = alexnet_spec.load(args.spec, overrides=args.set)
    net = alexnet_spec.resolve(spec)
    model = alexnet_spec.build(spec, backend="torch", output="logits")  # a final softmax dropped: cross-entropy
    if distributed:
        model = torch.nn.parallel.DistributedDataParallel(model)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    classes = net.output_shape[0]
    batches = synthetic_batches(net.input_shape, classes, args.batch, rank, args.seed)

    started, loss_value = time.perf_counter(), float("nan")
    for step in range(1, args.steps + 1):
        images, labels = next(batches)
        output = model(images)
        loss = F.cross_entropy(output, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_value = loss.item()
        if rank == 0:
            rate = step * args.batch * dist_world_size() / (time.perf_counter() - started)
            print(progress(step, args.steps, loss_value, rate), end="", file=sys.stderr, flush=True)
    if rank == 0:
        print(file=sys.stderr)
    inner = model.module if distributed else model
    # One write per line: under torchrun stdout is unbuffered, and print's separate "\n" could land after another
    # rank's line.
    sys.stdout.write(f"rank {rank}: final loss {loss_value:.6f} weights {weights_digest(inner)}\n")
    sys.stdout.flush()
    if distributed:
        dist.barrier()  # no rank tears gloo down while another still talks to it (seen: "terminate called" at exit)
        dist.destroy_process_group()
    return 0 if torch.isfinite(torch.tensor(loss_value)) else 1


if __name__ == "__main__":
    sys.exit(main())
