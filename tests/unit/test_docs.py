"""The README's configuration reference is the one the code renders (docs that are true)."""

from __future__ import annotations

from pathlib import Path

from streaming.config_doc import BEGIN, END, reference_markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_config_reference_is_current() -> None:
    text = README.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] == reference_markdown(), (
        "run `vigil config --reference` and paste it into README.md"
    )


def test_readme_starts_with_the_two_commands() -> None:
    text = README.read_text()
    assert text.index("make demo") < text.index("make test") < text.index("## How it fits together")
