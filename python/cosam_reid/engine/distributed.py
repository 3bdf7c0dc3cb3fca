"""torch.distributed set-up for runs launched by torchrun (env:// rendezvous):
gloo on the CPU, nccl on GPUs; a single process when no launcher set RANK."""
import contextlib
import dataclasses
import os

import torch
import torch.distributed as dist


@dataclasses.dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self):
        return self.world_size > 1

    @property
    def is_main(self):
        return self.rank == 0


def resolve_device(request, local_rank=0):
    """The torch.device of a train.device request."""
    if request not in ("auto", "cpu", "cuda"):
        raise ValueError(f"train.device: unknown device {request!r}; choose auto, cpu or cuda")
    if request == "cuda" and not torch.cuda.is_available():
        raise ValueError("train.device is cuda, but torch sees no CUDA device here: train.device=cpu (or auto) "
                         "trains on the CPU")
    if request == "cuda" or (request == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def init_distributed(device_request="auto"):
    """Joins the process group torchrun describes in the environment (RANK,
    WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), or returns a
    single-process context when RANK is unset."""
    if "RANK" not in os.environ:
        return DistributedContext(device=resolve_device(device_request))
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    device = resolve_device(device_request, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistributedContext(rank, world_size, local_rank, device)


def shutdown_distributed():
    if dist.is_initialized():
        dist.destroy_process_group()


def mean_over_ranks(values, context):
    """values (a 1-D tensor) averaged over the processes."""
    if context.distributed:
        values = values.clone()
        dist.all_reduce(values)
        values /= context.world_size
    return values


@contextlib.contextmanager
def main_process_first(context):
    """Runs the block on rank 0, then on the other ranks: for work that
    creates files on first use (a generated dataset), so that ranks do not race."""
    if context.distributed and not context.is_main:
        dist.barrier()
    yield
    if context.distributed and context.is_main:
        dist.barrier()
