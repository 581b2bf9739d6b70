"""The few torch.distributed helpers the training methods need, all no-ops in one process.

Launched by `torchrun`, every rank holds its share of the batch; a contrastive loss
needs every rank's embeddings as negatives, with gradient: `gather` uses
`torch.distributed.nn.functional.all_gather`, whose backward sends each rank the
gradient of every rank's loss with respect to its own rows (summed), so that averaging
the parameters' gradients over ranks (as DDP does) gives exactly the gradient of the
loss of the whole batch. `gather_nograd` is for tensors no gradient flows through (MoCo's
keys going into the queue).
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def launched() -> bool:
    """Whether this process was started by torchrun (or another launcher) as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: torch.device) -> torch.device:
    """Join the launcher's process group (NCCL on CUDA, gloo on the CPU) once; the device
    this rank drives (cuda:LOCAL_RANK on CUDA)."""
    if not launched():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def barrier() -> None:
    if active():
        dist.barrier()


@torch.no_grad()
def sum_over_ranks(values: list[float]) -> list[float]:
    """Each value summed over ranks (epoch totals for the logs)."""
    if not active():
        return values
    on = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    t = torch.tensor(values, dtype=torch.float64, device=on)
    dist.all_reduce(t)
    return t.tolist()


def active() -> bool:
    """Whether a process group with more than one rank is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def gather(x: torch.Tensor) -> torch.Tensor:
    """Every rank's `x` concatenated along dim 0 in rank order, with gradient."""
    if not active():
        return x
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x.contiguous()))


@torch.no_grad()
def gather_nograd(x: torch.Tensor) -> torch.Tensor:
    """Every rank's `x` concatenated along dim 0 in rank order, detached."""
    if not active():
        return x.detach()
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.detach().contiguous())
    return torch.cat(parts)


def average_gradients(params) -> None:
    """Replace each gradient by its mean over ranks (what DDP does), one flat all-reduce."""
    if not active():
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()
