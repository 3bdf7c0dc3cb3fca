"""P x K identity sampling: each batch holds P identities with K clips each.

The sampler is a batch sampler: it yields lists of ClipRequest(index, seed),
the tracklet to draw a clip from and the seed of that clip's randomness (frame
choice, augmentation). An epoch's plan depends on (seed, epoch) only, so every
rank of a distributed run computes the same plan, and a run resumed mid-epoch
continues with exactly the batches and clips it would have had.
"""
from collections import defaultdict
from typing import NamedTuple

import numpy as np

from ..config import packaged_default


class ClipRequest(NamedTuple):
    index: int
    seed: int


class PKBatchSampler:
    """Batches of P identities x K tracklet indices; drop_last.

    Per epoch, each identity's tracklets are shuffled and cut into groups of K
    (an identity with fewer than K tracklets draws K with replacement, the
    incomplete remainder is dropped); batches then take one group from each of
    P identities drawn among those with groups left, until fewer than P remain.

    Distributed: the plan is made for world_size * P identities per batch and
    rank r keeps identities r*P .. r*P + P - 1, so each rank sees a P x K batch
    and the ranks together see what one process with world_size * P identities
    would.
    """

    def __init__(self, pids, identities_per_batch=packaged_default("data.identities_per_batch"),
                 instances_per_identity=packaged_default("data.instances_per_identity"), seed=0, rank=0,
                 world_size=1):
        if identities_per_batch < 1 or instances_per_identity < 1:
            raise ValueError(
                f"P and K must be >= 1, got P={identities_per_batch}, K={instances_per_identity}"
            )
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in a world of size {world_size}")
        self.identities_per_batch = identities_per_batch
        self.instances_per_identity = instances_per_identity
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self._tracklets_of = defaultdict(list)
        for index, pid in enumerate(pids):
            self._tracklets_of[pid].append(index)
        global_identities = identities_per_batch * world_size
        if len(self._tracklets_of) < global_identities:
            raise ValueError(
                f"{len(self._tracklets_of)} identities cannot fill batches of P={identities_per_batch} "
                f"identities on {world_size} rank(s)"
            )
        self.epoch = 0
        self._plan = None

    def set_epoch(self, epoch):
        if epoch != self.epoch:
            self.epoch, self._plan = epoch, None

    def __iter__(self):
        yield from self.plan()

    def __len__(self):
        return len(self.plan())

    def plan(self):
        """This rank's batches of the current epoch."""
        if self._plan is None:
            self._plan = self._make_plan()
        return self._plan

    def _make_plan(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        k = self.instances_per_identity
        groups = {}
        for pid in sorted(self._tracklets_of):
            indices = np.array(self._tracklets_of[pid])
            if len(indices) < k:
                indices = rng.choice(indices, size=k, replace=True)
            else:
                indices = rng.permutation(indices)
            groups[pid] = [indices[start:start + k].tolist() for start in range(0, len(indices) - k + 1, k)]
        global_identities = self.identities_per_batch * self.world_size
        own = slice(self.rank * self.identities_per_batch * k, (self.rank + 1) * self.identities_per_batch * k)
        batches = []
        while True:
            available = [pid for pid in groups if groups[pid]]
            if len(available) < global_identities:
                return batches
            chosen = rng.choice(available, size=global_identities, replace=False)
            indices = [index for pid in chosen for index in groups[pid].pop()]
            seeds = rng.integers(2**62, size=len(indices))
            batch = [ClipRequest(index, int(seed)) for index, seed in zip(indices, seeds)]
            batches.append(batch[own])
