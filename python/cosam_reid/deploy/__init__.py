"""Deployment of trained models: ONNX export (deploy.onnx)."""
from .onnx import compare_with_eager, export_onnx

__all__ = ["compare_with_eager", "export_onnx"]
