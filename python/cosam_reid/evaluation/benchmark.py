"""Time and peak memory of evaluating a random MARS-sized problem: 1,980
queries and 11,310 gallery tracklets (MARS's test split without junk),
2048-d features, random pids and cameras. `cosam-reid benchmark` runs it;
run it in a fresh process, as the peak resident set size it reports is the
process's own (ru_maxrss)."""
import resource
import time

import torch

from .metrics import DEFAULT_BLOCK_SIZE, evaluate
from .results import Protocol

MARS_QUERIES, MARS_GALLERY, FEATURE_DIM, MARS_TEST_IDS, MARS_CAMERAS = 1980, 11310, 2048, 626, 6


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def benchmark_evaluation(protocol: Protocol = Protocol(), block_size: int = DEFAULT_BLOCK_SIZE) -> str:
    """Evaluates random MARS-sized features under protocol; returns a line
    with the problem, the time and the peak memory."""
    generator = torch.Generator().manual_seed(0)
    queries = torch.randn(MARS_QUERIES, FEATURE_DIM, generator=generator)
    gallery = torch.randn(MARS_GALLERY, FEATURE_DIM, generator=generator)
    labels = dict(query_pids=torch.randint(1, MARS_TEST_IDS, (MARS_QUERIES,), generator=generator),
                  gallery_pids=torch.randint(0, MARS_TEST_IDS, (MARS_GALLERY,), generator=generator),
                  query_camids=torch.randint(0, MARS_CAMERAS, (MARS_QUERIES,), generator=generator),
                  gallery_camids=torch.randint(0, MARS_CAMERAS, (MARS_GALLERY,), generator=generator))
    before = peak_rss_mib()
    start = time.perf_counter()
    result = evaluate(queries, gallery, **labels, block_size=block_size, protocol=protocol)
    seconds = time.perf_counter() - start
    peak = peak_rss_mib()
    gallery_size = MARS_GALLERY + (MARS_QUERIES if protocol.gallery_mode == "official" else 0)
    rerank = (f"k-reciprocal re-ranking (k1={protocol.rerank_k1}, k2={protocol.rerank_k2}, "
              f"lambda={protocol.rerank_lambda}) over {MARS_QUERIES + MARS_GALLERY} items, "
              if protocol.rerank else "")
    return (f"{MARS_QUERIES} queries x {gallery_size} gallery, {FEATURE_DIM}-d, {protocol.gallery_mode} gallery, "
            f"{protocol.distance}, {protocol.average_precision} AP, {rerank}blocks of {block_size}, "
            f"{torch.get_num_threads()} threads: {seconds:.2f} s; peak RSS {peak:.0f} MiB, "
            f"{peak - before:.0f} MiB above the process with its inputs "
            f"(mAP of random features {100 * result.mAP:.2f}%)")
