"""Time and peak memory of evaluating a random MARS-sized problem:

    python3 -m cosam_reid.evaluation.benchmark [--gallery-mode official] [--block-size 256]

1,980 queries and 11,310 gallery tracklets (MARS's test split without junk),
2048-d features, random pids and cameras. Run it in a fresh process: the
peak resident set size it reports is the process's own (ru_maxrss).
"""
import argparse
import resource
import time

import torch

from .metrics import DEFAULT_BLOCK_SIZE, evaluate
from .results import GALLERY_MODES, Protocol

MARS_QUERIES, MARS_GALLERY, FEATURE_DIM, MARS_TEST_IDS, MARS_CAMERAS = 1980, 11310, 2048, 626, 6


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gallery-mode", choices=sorted(GALLERY_MODES), default="torchreid")
    parser.add_argument("--distance", choices=("euclidean", "cosine"), default="euclidean")
    parser.add_argument("--block-size", type=int, default=DEFAULT_BLOCK_SIZE)
    args = parser.parse_args(argv)

    generator = torch.Generator().manual_seed(0)
    queries = torch.randn(MARS_QUERIES, FEATURE_DIM, generator=generator)
    gallery = torch.randn(MARS_GALLERY, FEATURE_DIM, generator=generator)
    labels = dict(query_pids=torch.randint(1, MARS_TEST_IDS, (MARS_QUERIES,), generator=generator),
                  gallery_pids=torch.randint(0, MARS_TEST_IDS, (MARS_GALLERY,), generator=generator),
                  query_camids=torch.randint(0, MARS_CAMERAS, (MARS_QUERIES,), generator=generator),
                  gallery_camids=torch.randint(0, MARS_CAMERAS, (MARS_GALLERY,), generator=generator))
    before = peak_rss_mib()
    start = time.perf_counter()
    result = evaluate(queries, gallery, **labels, block_size=args.block_size,
                      protocol=Protocol(gallery_mode=args.gallery_mode, distance=args.distance))
    seconds = time.perf_counter() - start
    peak = peak_rss_mib()
    gallery_size = MARS_GALLERY + (MARS_QUERIES if args.gallery_mode == "official" else 0)
    print(f"{MARS_QUERIES} queries x {gallery_size} gallery, {FEATURE_DIM}-d, {args.gallery_mode} gallery, "
          f"{args.distance}, blocks of {args.block_size}, {torch.get_num_threads()} threads: {seconds:.2f} s; "
          f"peak RSS {peak:.0f} MiB, {peak - before:.0f} MiB above the process with its inputs "
          f"(mAP of random features {100 * result.mAP:.2f}%)")


if __name__ == "__main__":
    main()
