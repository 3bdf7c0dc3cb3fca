"""Evaluation: test features, distances, ranking metrics (mAP, CMC, mINP),
and the protocol printed beside every result."""
from .distances import pairwise_distances
from .metrics import evaluate, metrics_from_distances
from .results import Protocol, ReIDResult, average_results

__all__ = ["Protocol", "ReIDResult", "average_results", "evaluate", "metrics_from_distances",
           "pairwise_distances"]
