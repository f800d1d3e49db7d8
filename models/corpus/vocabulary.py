"""The corpus's label vocabulary: each class belongs to exactly one role.

- ``event``: the incidents Vigil alerts on;
- ``negative``: everyday sounds that must not raise an alert (hard negatives);
- ``bed``: ambience to mix under events and negatives.
"""

from __future__ import annotations

from typing import Literal

Role = Literal["event", "negative", "bed"]

EVENT_CLASSES: tuple[str, ...] = ("fight", "scream", "gunshot", "glass_break", "explosion")
NEGATIVE_CLASSES: tuple[str, ...] = (
    "door",
    "dog",
    "siren",
    "horn",
    "footsteps",
    "speech",
    "music",
    "applause",
    "thunder",
    "impact",
    "alarm",
    "vehicle",
    "other",
)
BED_CLASSES: tuple[str, ...] = ("rain", "wind", "city", "crowd", "traffic", "nature", "indoor", "water")

ROLE_OF_CLASS: dict[str, Role] = {
    **{c: "event" for c in EVENT_CLASSES},
    **{c: "negative" for c in NEGATIVE_CLASSES},
    **{c: "bed" for c in BED_CLASSES},
}

# Longest clip kept per role (seconds), counted from the first non-silent sample.
MAX_SECONDS: dict[Role, float] = {"event": 6.0, "negative": 10.0, "bed": 90.0}
# Shorter clips (after trimming silence) are dropped.
MIN_SECONDS = 0.15
SAMPLE_RATE = 16_000


def role_of(label: str) -> Role:
    """The role of a class; ``KeyError`` names the class when it is not in the vocabulary."""
    try:
        return ROLE_OF_CLASS[label]
    except KeyError:
        raise KeyError(f"class {label!r} is not in the corpus vocabulary") from None
