"""What an evaluation was run under (the protocol) and what it found (the result).

Every result carries its protocol, and printing a result prints both, so a
number is never reported without the gallery mode, distance and AP form that
produced it.
"""
import dataclasses
from typing import Dict, Optional, Sequence, Tuple

from ..config import packaged_default
from .reranking import check_options

GALLERY_MODES = {
    "torchreid": "gallery = the non-query test tracklets; queries without a true match are skipped",
    "official": "gallery = the test tracklets plus the query set (MARS official protocol)",
}
DISTANCES = {"euclidean": "squared Euclidean", "cosine": "cosine distance (1 - cos)"}
AP_FORMS = {
    "non-interpolated": "non-interpolated AP (mean precision at each true match)",
    "trapezoid": "trapezoid AP (the official Market/MARS evaluation code)",
}
DEFAULT_RANKS = packaged_default("evaluation.ranks")
RERANK_OPTIONS = ("rerank", "rerank_k1", "rerank_k2", "rerank_lambda")


def _check_choice(value, choices, what):
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; expected one of {sorted(choices)}")


@dataclasses.dataclass(frozen=True)
class Protocol:
    """How query and gallery are compared. `dataset` and `sampling` are only
    reported, the other fields change the computation. The defaults are the
    config's evaluation section (configs/default.yaml)."""

    gallery_mode: str = packaged_default("evaluation.gallery_mode")
    distance: str = packaged_default("evaluation.distance")
    average_precision: str = packaged_default("evaluation.average_precision")
    ranks: Tuple[int, ...] = DEFAULT_RANKS
    dataset: Optional[str] = None
    sampling: Optional[str] = None
    rerank: bool = packaged_default("evaluation.rerank")
    rerank_k1: int = packaged_default("evaluation.rerank_k1")
    rerank_k2: int = packaged_default("evaluation.rerank_k2")
    rerank_lambda: float = packaged_default("evaluation.rerank_lambda")

    def __post_init__(self):
        _check_choice(self.gallery_mode, GALLERY_MODES, "gallery mode")
        _check_choice(self.distance, DISTANCES, "distance")
        _check_choice(self.average_precision, AP_FORMS, "average-precision form")
        ranks = tuple(int(r) for r in self.ranks)
        if not ranks or min(ranks) < 1:
            raise ValueError(f"CMC ranks must be positive integers, got {self.ranks!r}")
        object.__setattr__(self, "ranks", tuple(sorted(set(ranks))))
        if not isinstance(self.rerank, bool):
            raise ValueError(f"evaluation.rerank must be true or false, got {self.rerank!r}")
        check_options(self.rerank_k1, self.rerank_k2, self.rerank_lambda,
                      names=[f"evaluation.{name}" for name in RERANK_OPTIONS[1:]])

    @classmethod
    def from_options(cls, options) -> "Protocol":
        """The protocol options (an EvaluationConfig, or parsed command-line
        options) name: gallery_mode, distance, average_precision and, when
        they have them, ranks and the re-ranking options (rerank,
        rerank_k1, rerank_k2, rerank_lambda)."""
        return cls(gallery_mode=options.gallery_mode, distance=options.distance,
                   average_precision=options.average_precision,
                   ranks=tuple(getattr(options, "ranks", None) or DEFAULT_RANKS),
                   **{name: getattr(options, name) for name in RERANK_OPTIONS if hasattr(options, name)})

    def describe(self) -> str:
        parts = []
        if self.dataset:
            parts.append(f"dataset: {self.dataset}")
        parts.append(f"gallery: {self.gallery_mode} ({GALLERY_MODES[self.gallery_mode]})")
        parts.append(f"distance: {DISTANCES[self.distance]}")
        parts.append(f"AP: {AP_FORMS[self.average_precision]}")
        if self.rerank:
            parts.append(f"re-ranking: k-reciprocal (Zhong et al. 2017), k1={self.rerank_k1}, k2={self.rerank_k2}, "
                         f"lambda={self.rerank_lambda}, over queries + gallery")
        parts.append("same identity + same camera gallery entries excluded; pid -1 junk ignored")
        if self.sampling:
            parts.append(f"test sampling: {self.sampling}")
        return "\n".join(parts)


@dataclasses.dataclass(frozen=True)
class ReIDResult:
    """Metrics as fractions in [0, 1]; `cmc` maps a rank to the fraction of
    evaluated queries with a true match at or above it. A result averaged over
    splits has `num_splits` > 1 and per-split query counts summed."""

    mAP: float
    cmc: Dict[int, float]
    mINP: float
    num_queries: int
    num_skipped: int
    protocol: Protocol
    num_splits: int = 1

    @property
    def num_evaluated(self) -> int:
        return self.num_queries - self.num_skipped

    def as_dict(self) -> dict:
        return {
            "mAP": self.mAP,
            "mINP": self.mINP,
            **{f"rank-{r}": v for r, v in self.cmc.items()},
            "num_queries": self.num_queries,
            "num_skipped": self.num_skipped,
            "num_splits": self.num_splits,
            "protocol": dataclasses.asdict(self.protocol),
        }

    def __str__(self) -> str:
        header = "Results"
        if self.num_splits > 1:
            header += f" (mean over {self.num_splits} splits)"
        lines = [
            f"{header}:",
            f"  mAP   {100 * self.mAP:6.2f}%",
            *(f"  R{rank:<4d} {100 * value:6.2f}%" for rank, value in self.cmc.items()),
            f"  mINP  {100 * self.mINP:6.2f}%",
            f"  queries evaluated: {self.num_evaluated} of {self.num_queries}"
            f" ({self.num_skipped} skipped: no true match in the gallery)",
            "Protocol:",
            *("  " + line for line in self.protocol.describe().splitlines()),
        ]
        return "\n".join(lines)


def average_results(results: Sequence[ReIDResult], dataset: Optional[str] = None) -> ReIDResult:
    """The mean of per-split results (iLIDS-VID and PRID2011 report the mean
    over their 10 splits). The results must share one protocol, apart from
    the dataset name, which becomes `dataset` (by default the distinct names
    joined)."""
    if not results:
        raise ValueError("no results to average")
    protocols = {dataclasses.replace(r.protocol, dataset=None) for r in results}
    if len(protocols) != 1:
        raise ValueError(f"cannot average results of different protocols: {protocols}")
    if dataset is None:
        dataset = ", ".join(dict.fromkeys(r.protocol.dataset for r in results if r.protocol.dataset)) or None
    count = len(results)
    return ReIDResult(
        mAP=sum(r.mAP for r in results) / count,
        cmc={rank: sum(r.cmc[rank] for r in results) / count for rank in results[0].cmc},
        mINP=sum(r.mINP for r in results) / count,
        num_queries=sum(r.num_queries for r in results),
        num_skipped=sum(r.num_skipped for r in results),
        protocol=dataclasses.replace(results[0].protocol, dataset=dataset),
        num_splits=sum(r.num_splits for r in results),
    )
