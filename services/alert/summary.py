"""One-line, human summaries of an alert, short enough for a phone notification."""

from __future__ import annotations

from typing import Final

# class -> (what it sounds like, what it looks like)
PHRASES: Final[dict[str, tuple[str, str]]] = {
    "fight": ("shouting and blows", "people grappling"),
    "scream": ("a scream", "sudden movement"),
    "gunshot": ("gunshot-like bang", "people scattering"),
    "glass_break": ("glass shattering", "a broken pane"),
    "explosion": ("explosion-like blast", "a bright flash and debris"),
}


def describe(class_name: str, contribution: dict[str, float], missing: tuple[str, ...] = ()) -> str:
    """``"gunshot-like bang with people scattering, 70% from audio"`` from the class and contribution."""
    sound, sight = PHRASES.get(class_name, (f"{class_name.replace('_', ' ')} sound", "unusual activity"))
    if "video" in missing:
        return f"{sound} (audio only)"
    if "audio" in missing:
        return f"{sight} (video only)"
    audio = contribution.get("audio", 0.5)
    lead, share = ("audio", audio) if audio >= 0.5 else ("video", 1.0 - audio)
    return f"{sound} with {sight}, {round(share * 100)}% from {lead}"


def summary_line(
    event_type: str, class_name: str, contribution: dict[str, float], missing: tuple[str, ...], score: float
) -> str:
    """The alert's summary for one lifecycle step."""
    text = describe(class_name, contribution, missing)
    if event_type == "resolved":
        return f"over: {text}"
    if event_type == "updated":
        return f"still going: {text} (peak {score:.0%})"
    return f"{text} ({score:.0%})"
