"""Data-parallel training under torchrun: one run, several processes.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; without them (or with WORLD_SIZE=1)
everything here is a no-op and training is the plain single-process loop.

How a run stays one run:
- every rank draws the same global batch of indices from the run's seed and takes
  its own disjoint slice ix[rank::world_size]; the global batch is what the user
  asked for, whatever the number of processes;
- each rank's loss is scaled by (its targets * world_size / the batch's targets), so
  that DistributedDataParallel's mean of the gradients is exactly the gradient of
  the global batch's mean loss, as in a single process; every rank counts the
  global batch's targets itself (split.targets(ix)), so the gradients' all-reduce
  is the only collective of most steps;
- rank 0 alone evaluates, prints, and writes checkpoints and metrics;
- Ctrl-C or SIGTERM on any rank sets a stop flag that is all-reduced every
  STOP_CHECK_EVERY steps, so all ranks stop at the same step and rank 0 saves;
  a rank that dies ends the others through torchrun, and the best checkpoint
  on disk is intact because every write is atomic.

BatchNorm: each rank normalises with its own shard's statistics (no SyncBatchNorm:
mmzoo's BatchNorm also normalises [B, T, C] inputs, which convert_sync_batchnorm
does not know, and a sync per layer per step costs more than the models do), and
DDP broadcasts rank 0's running statistics. `mmzoo export` recalibrates every
BatchNorm on the training split, so the exported model's statistics do not
depend on the number of processes. Backends: gloo on CPU, nccl on CUDA.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
import torch.distributed as dist
import torch.nn as nn

from mmzoo.engine.data.batches import PAD
from mmzoo.engine.devices import autocast
from mmzoo.engine.loss import batch_loss
from mmzoo.errors import MmzooError

T = TypeVar("T")
STOP_CHECK_EVERY = 8  # steps between all-reduces of the stop flag: one collective less per step


@dataclass
class Parallel:
    """This process's place in the run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def main_first(self, fn: Callable[[], T]) -> T:
        """Rank 0 runs fn first (it may build a cache the others then read)."""
        if not self.active:
            return fn()
        value = fn() if self.is_main else None
        dist.barrier()
        return value if self.is_main else fn()  # type: ignore[return-value]

    def agree(self, value: T) -> T:
        """Rank 0's value, on every rank (e.g. the run folder it made)."""
        if not self.active:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def close(self) -> None:
        if self.active and dist.is_initialized():
            dist.destroy_process_group()


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def start(device: torch.device) -> Parallel:
    """Join the process group torchrun describes, or a single-process Parallel."""
    if not launched_by_torchrun():
        return Parallel(device=device)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        raise MmzooError(f"data-parallel training runs on cpu (gloo) or cuda (nccl), not {device.type}")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world)
    return Parallel(rank, world, local, device)


class _Loss(nn.Module):
    """The training loss as a module, so DDP sees it as the forward pass (window
    models train through next_logits, which DDP would not see)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return batch_loss(self.model, x, y)


class StopFlag:
    """SIGINT/SIGTERM set a flag instead of raising mid-collective (data-parallel only)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.raised = False
        self.previous: dict[int, Any] = {}

    def install(self) -> None:
        for sig in self.SIGNALS:
            self.previous[sig] = signal.signal(sig, self._set)

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous.clear()

    def _set(self, signum: int, frame: Any) -> None:
        self.raised = True


class StepLoss:
    """loss = step(split, ix): the loss of this rank's shard of the global batch ix,
    on the run's device, ready for backward(). Raises KeyboardInterrupt on every
    rank together when any rank was asked to stop."""

    def __init__(self, model: nn.Module, parallel: Parallel) -> None:
        self.parallel = parallel
        self.module: nn.Module = _Loss(model)
        self.stop = StopFlag()
        self.calls = 0
        if parallel.active:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [parallel.device.index] if parallel.device.type == "cuda" else None
            self.module = DDP(self.module, device_ids=ids)
            self.stop.install()
            if parallel.rank > 0:  # dropout masks differ between ranks; rank 0 keeps the seed's stream
                torch.manual_seed(torch.initial_seed() + 1_000_003 * parallel.rank)

    def __call__(self, split: Any, ix: torch.Tensor) -> torch.Tensor:
        p = self.parallel
        if not p.active:
            x, y = split.batch(ix)
            with autocast(p.device):
                return self.module(x.to(p.device, non_blocking=True), y.to(p.device, non_blocking=True))
        if len(ix) < p.world_size:
            raise MmzooError(f"--batch-size {len(ix)} is smaller than the {p.world_size} processes")
        self.calls += 1
        if self.calls % STOP_CHECK_EVERY == 0 and self._anyone_stopping():
            raise KeyboardInterrupt  # on every rank, at the same step
        total = split.targets(ix)  # of the global batch: every rank holds the same ix
        x, y = split.batch(ix[p.rank :: p.world_size])
        scale = int((y != PAD).sum()) * p.world_size / max(total, 1)
        with autocast(p.device):
            loss = self.module(x.to(p.device, non_blocking=True), y.to(p.device, non_blocking=True))
        return loss * scale

    def _anyone_stopping(self) -> bool:
        flag = torch.tensor([float(self.stop.raised)], device=self.parallel.device)
        dist.all_reduce(flag)
        return bool(flag.item() > 0)

    def close(self) -> None:
        self.stop.restore()
