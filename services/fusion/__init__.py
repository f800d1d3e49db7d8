"""The fusion service: media topics in, one :class:`~streaming.contracts.WindowScore` per camera window out.

Parts: :mod:`.batcher` (dynamic cross-camera batches), :mod:`.runner` (ONNX Runtime via
:class:`models.runtime.FusionModel`), :mod:`.offsets` (what may be committed), :mod:`.metrics`,
:mod:`.service` (the loop), :mod:`.cli` (``vigil fusion``). Windows come from
:class:`streaming.windowing.WindowAssembler`.
"""
