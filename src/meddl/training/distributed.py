"""Data-parallel training across processes (Lightning's DDP: gloo on CPUs, NCCL on GPUs).

Lightning starts the extra processes by running the same command again (or torchrun/SLURM starts every process);
each trains on its own shard of every epoch's permutation, gradients are averaged, and validation predictions are
gathered so every process selects the same best epoch. Only global rank 0 writes: Lightning saves checkpoints and
logs from rank 0 alone, and the other processes end after training, before meddl evaluates and writes the report.
"""

from __future__ import annotations

import os

import torch

# Environment variables by which launchers tell a process its rank: Lightning's own launcher and torchrun set
# LOCAL_RANK/NODE_RANK/RANK, SLURM sets SLURM_PROCID for every task of a job step.
_RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK")


def is_worker_process() -> bool:
    """True in a process a distributed launcher started as anything but global rank 0: it trains its shard and
    must leave the output folder (preparing, evaluating, reporting) to rank 0."""
    for name in _RANK_VARIABLES:
        if int(os.environ.get(name, "0") or 0) > 0:
            return True
    return int(os.environ.get("SLURM_NTASKS", "1") or 1) > 1 and int(os.environ.get("SLURM_PROCID", "0") or 0) > 0


def gather(module, tensor: torch.Tensor) -> torch.Tensor:
    """`tensor` (one row per example) from every process, concatenated; itself when training in one process.
    Each process holds the same number of rows (the distributed sampler pads the shards to equal length)."""
    if module.trainer is None or module.trainer.world_size == 1:
        return tensor
    return module.all_gather(tensor).flatten(0, 1)


def total(module, value: float) -> float:
    """The sum of `value` over every process (e.g. validation token counts); itself in one process."""
    if module.trainer is None or module.trainer.world_size == 1:
        return value
    summed = module.trainer.strategy.reduce(torch.tensor(value, dtype=torch.float64, device=module.device),
                                            reduce_op="sum")
    return float(summed)


def finish(trainer) -> None:
    """End a distributed run: wait for every process, close the process group (so no process hangs at exit), and
    end the worker processes here, since rank 0 alone evaluates and writes the report."""
    if trainer.world_size == 1:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    if trainer.global_rank != 0:
        raise SystemExit(0)
