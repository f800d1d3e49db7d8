"""Numpy-only synthetic audio-visual data: scenes, incidents, hard negatives, labelled windows.

- :mod:`models.synth.scene`: :class:`Scene` (continuous picture and sound over time)
- :mod:`models.synth.events`: incident renderers (:data:`INCIDENTS`) and hard negatives
- :mod:`models.synth.windows`: scenarios, :func:`make_window`, :func:`make_dataset`
"""

from models.synth.events import HARD_NEGATIVES, INCIDENTS
from models.synth.scene import Scene
from models.synth.windows import AMBIGUOUS_MIX, SCENARIOS, TRAIN_MIX, WindowSet, make_dataset, make_window

__all__ = [
    "AMBIGUOUS_MIX",
    "HARD_NEGATIVES",
    "INCIDENTS",
    "SCENARIOS",
    "TRAIN_MIX",
    "Scene",
    "WindowSet",
    "make_dataset",
    "make_window",
]
