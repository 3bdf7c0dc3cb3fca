"""cosam_reid: video person re-identification around cosam_ext.CosamLayer.

Models (backbones with COSAM after any blocks, temporal pooling), losses,
samplers, the training engine, datasets, evaluation and pictures; pure Python
on top of the compiled op library.
"""
