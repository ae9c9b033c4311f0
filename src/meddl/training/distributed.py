"""Data-parallel training across processes (Lightning's DDP: gloo on CPUs, NCCL on GPUs).

Lightning starts the extra processes by running the same command again (or torchrun/SLURM starts every process);
each trains on its own shard of every epoch's permutation, gradients are averaged, and validation predictions are
gathered so every process selects the same best epoch. Only global rank 0 writes: Lightning saves checkpoints and
logs from rank 0 alone, and the other processes return from `meddl.train` after training (returning None) while
rank 0 evaluates and writes the report. The distributed sampler pads every shard to the same length, so validation
figures may count up to N-1 examples twice.
"""

from __future__ import annotations

import os

import torch

# Environment variables by which launchers tell a process its rank: Lightning's own launcher and torchrun set
# LOCAL_RANK/NODE_RANK/RANK, SLURM sets SLURM_PROCID for every task of a job step.
_RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK")


def is_worker_process(devices: int | str = 1, num_nodes: int = 1) -> bool:
    """True in a process a distributed launcher started as anything but global rank 0 of a run that asks for
    several processes (`devices` x `num_nodes`): it trains its shard and leaves the output folder (preparing,
    evaluating, reporting) to rank 0. A one-process run is never a worker, even as a task of a multi-task SLURM step."""
    if devices == 1 and num_nodes == 1:
        return False
    for name in _RANK_VARIABLES:
        if _rank(name) > 0:
            return True
    return _rank("SLURM_NTASKS", default=1) > 1 and _rank("SLURM_PROCID") > 0


def _rank(name: str, default: int = 0) -> int:
    try:
        return int(os.environ.get(name, "") or default)
    except ValueError:
        return default


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


def finish(trainer) -> bool:
    """End a distributed run: wait for every process and close the process group (so no process hangs at exit).
    Returns True in a worker process: rank 0 alone evaluates and writes the report, the workers return without
    doing so (and follow the rest of the script, as Lightning's launcher expects of the processes it starts)."""
    if trainer.world_size == 1:
        return False
    import torch.distributed as dist

    trainer.strategy.barrier("meddl-finish")
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    return trainer.global_rank != 0
