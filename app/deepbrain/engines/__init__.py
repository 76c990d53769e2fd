"""The engines behind :func:`deepbrain.pipeline.compute_activations`.

Each has ``run(utts, model, request, progress=None, cancel=None) -> Iterator[Activations]``.
"""
