"""Evaluation: test features, distances, ranking metrics (mAP, CMC, mINP),
the protocol printed beside every result, and trained checkpoints evaluated
as a config's evaluation section says; features of a folder of tracklets."""
from .distances import pairwise_distances
from .extract import extract_folder
from .features import clip_indices, extract_features
from .metrics import evaluate, metrics_from_distances
from .pipeline import (EvaluationFeatures, compute_test_features, configured_test_features, evaluate_checkpoint,
                       evaluate_model)
from .results import Protocol, ReIDResult, average_results

__all__ = ["EvaluationFeatures", "Protocol", "ReIDResult", "average_results", "clip_indices", "evaluate",
           "compute_test_features", "configured_test_features", "evaluate_checkpoint", "evaluate_model",
           "extract_features", "extract_folder", "metrics_from_distances", "pairwise_distances"]
