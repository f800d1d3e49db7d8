"""One-line, human summaries of an alert, short enough for a phone notification."""

from __future__ import annotations

from typing import Final

# A modality whose share of the decision is below this is not mentioned in the summary.
MIN_SHARE: Final = 0.2

# class -> (what it sounds like, what it looks like)
PHRASES: Final[dict[str, tuple[str, str]]] = {
    "fight": ("shouting and blows", "people grappling"),
    "scream": ("a scream", "sudden movement"),
    "gunshot": ("gunshot-like bang", "people scattering"),
    "glass_break": ("glass shattering", "a broken pane"),
    "explosion": ("explosion-like blast", "a bright flash and debris"),
}


def describe(class_name: str, contribution: dict[str, float], missing: tuple[str, ...] = ()) -> str:
    """What was heard and/or seen, claiming only what the model's contribution supports.

    Both modalities at or above ``MIN_SHARE``: ``"gunshot-like bang with people scattering: 70%
    audio, 30% video"`` (the leading modality first). One below it: only the other's phrase,
    ``"gunshot-like bang, 95% from audio"``: no sight is claimed when the picture did not drive it.
    """
    sound, sight = PHRASES.get(class_name, (f"{class_name.replace('_', ' ')} sound", "unusual activity"))
    if "video" in missing:
        return f"{sound} (audio only)"
    if "audio" in missing:
        return f"{sight} (video only)"
    audio = min(1.0, max(0.0, contribution.get("audio", 0.5)))
    video = 1.0 - audio
    if video < MIN_SHARE:
        return f"{sound}, {round(audio * 100)}% from audio"
    if audio < MIN_SHARE:
        return f"{sight}, {round(video * 100)}% from video"
    if audio >= video:
        return f"{sound} with {sight}: {round(audio * 100)}% audio, {round(video * 100)}% video"
    return f"{sight} with {sound}: {round(video * 100)}% video, {round(audio * 100)}% audio"


def summary_line(
    event_type: str, class_name: str, contribution: dict[str, float], missing: tuple[str, ...], score: float
) -> str:
    """The alert's summary for one lifecycle step."""
    text = describe(class_name, contribution, missing)
    if event_type == "resolved":
        return f"over: {text}"
    if event_type == "updated":
        return f"still going: {text} (peak {score:.0%})"
    return f"{text} (score {score:.0%})"
