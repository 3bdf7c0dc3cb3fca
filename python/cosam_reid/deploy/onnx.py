"""ONNX export of a VideoReIDModel, in standard ONNX ops.

While torch.onnx.export runs, the cosam ops compute in standard ops, so the
graph runs in a stock onnxruntime. Its input is a batch of clips (B, N, 3, H, W) with B dynamic; its output the
model's test feature (B, C), what the model returns in eval mode.
"""
import torch

__all__ = ["export_onnx", "compare_with_eager", "INPUT_NAME", "OUTPUT_NAME", "MAX_CLIPS"]

INPUT_NAME, OUTPUT_NAME = "clips", "features"
#: The largest clip batch the exported graph promises to take (the dynamic axis' bound).
MAX_CLIPS = 1024


def _example_clips(model, clips):
    spec = model.spec
    generator = torch.Generator().manual_seed(0)
    return torch.randn(clips, spec.num_frames, 3, *spec.input_size, generator=generator)


def export_onnx(model, path):
    """Writes model (a VideoReIDModel, exported in eval mode) to path as ONNX
    and returns the path. The graph takes clips (B, N, 3, H, W) as its input
    "clips", for any B from 1 to MAX_CLIPS, and gives (B, C) as "features"."""
    if not hasattr(model, "spec"):
        raise ValueError(f"export_onnx takes a cosam_reid VideoReIDModel, got {type(model).__name__}")
    was_training = model.training
    model.eval()
    try:
        clips = torch.export.Dim("clips", min=1, max=MAX_CLIPS)
        program = torch.onnx.export(
            model, (_example_clips(model, 2),), dynamo=True, dynamic_shapes=({0: clips},),
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], verbose=False,
        )
    finally:
        model.train(was_training)
    program.save(str(path))
    return path


def compare_with_eager(model, path, clip_counts=(1, 2)):
    """{B: largest |onnxruntime - PyTorch eager| of the features}, for random
    clips of each count B, the model in eval mode."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    was_training = model.training
    model.eval()
    differences = {}
    try:
        for count in clip_counts:
            clips = _example_clips(model, count)
            with torch.no_grad():
                expected = model(clips)
            (actual,) = session.run([OUTPUT_NAME], {INPUT_NAME: clips.numpy()})
            differences[count] = (torch.from_numpy(actual) - expected).abs().max().item()
    finally:
        model.train(was_training)
    return differences
