"""Exported models: a checkpoint as a self-contained ONNX, ``torch.export`` or TorchScript file."""
