"""Licences from a Debian package's ``copyright`` file (DEP-5 where machine-readable).

Only licences that allow training on the material and redistributing the resulting model pass
:func:`acceptable`; non-commercial, no-derivatives and unknown licences are refused.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

# Short names (prefixes, case-insensitive) of licences that allow training and redistribution.
_ACCEPTED = (
    "gpl",
    "lgpl",
    "cc-by-3",
    "cc-by-4",
    "cc-by-sa",
    "cc0",
    "public-domain",
    "public domain",
    "zlib",
    "mit",
    "expat",
    "bsd",
    "apache",
    "artistic",
    "clarified-artistic",
    "freedoom-license",  # BSD-3-clause style
    "battle-tanks-license",  # GPL with an exception for non-free add-ons
    "wtfpl",
    "free (",  # a summary written in sources.py after reading a free-text copyright file
)
_REFUSED = re.compile(r"\b(nc|non-?commercial|nd|no-?deriv)", re.IGNORECASE)


@dataclass(frozen=True)
class FilesStanza:
    """One ``Files:`` paragraph: its globs, licence short name and whole ``Copyright:`` field."""

    globs: tuple[str, ...]
    licence: str
    copyright: str

    @property
    def holder(self) -> str:
        """The first line of the copyright field."""
        lines = self.copyright.strip().splitlines()
        return lines[0].strip() if lines else ""


@dataclass(frozen=True)
class CopyrightInfo:
    """A parsed copyright file: DEP-5 stanzas (empty when free text) and a copyright line."""

    stanzas: tuple[FilesStanza, ...]
    holder: str

    @property
    def machine_readable(self) -> bool:
        """Whether the file had DEP-5 ``Files:`` stanzas."""
        return bool(self.stanzas)


def _paragraphs(text: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for line in block.splitlines():
            if line[:1] in (" ", "\t"):
                if key:
                    fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        if fields:
            out.append(fields)
    return out


def parse_copyright(text: str) -> CopyrightInfo:
    """Parse a ``debian/copyright`` file; free-text files give no stanzas, only a holder line."""
    paragraphs = _paragraphs(text)
    dep5 = bool(paragraphs) and "format" in paragraphs[0] and "copyright-format" in paragraphs[0]["format"]
    stanzas: list[FilesStanza] = []
    if dep5:
        for p in paragraphs:
            if "files" in p and "license" in p:
                lic = p["license"].splitlines()[0].strip() if p["license"].strip() else ""
                stanzas.append(FilesStanza(_globs(p["files"]), lic, p.get("copyright", "").strip()))
    holder = ""
    star = [s for s in stanzas if "*" in s.globs]
    if star:
        holder = star[0].holder
    else:
        for line in text.splitlines():
            if re.search(r"copyright\s*(\(c\)|©)?\s*\d", line, re.IGNORECASE):
                holder = line.strip()
                break
    return CopyrightInfo(tuple(stanzas), _clean(holder))


def _globs(field: str) -> tuple[str, ...]:
    """The globs of a ``Files:`` field: whitespace-separated, except that a line whose words are
    not all paths or patterns is one file name with spaces (written literally by some packagers,
    e.g. ``sounds/heavy rocket hit.wav``)."""
    out: list[str] = []
    for line in field.splitlines():
        words = line.split()
        if len(words) > 1 and not all("/" in w or "*" in w for w in words):
            out.append(" ".join(words))
        else:
            out.extend(words)
    return tuple(out)


def _clean(holder: str) -> str:
    holder = re.sub(r"\s+", " ", holder).strip()
    holder = re.sub(r"<[^>]*>", "", holder)  # no e-mail addresses in the manifest
    holder = re.sub(r"\(\s*\)", "", holder).strip()
    return holder[:120]


def stanza_for(info: CopyrightInfo, path: str) -> FilesStanza | None:
    """The DEP-5 stanza covering the source file at ``path`` (source-tree relative): the last
    matching stanza wins. A glob matches when it matches the path or any of its trailing parts,
    since installed paths carry prefixes the source tree does not have."""
    parts = path.strip("/").split("/")
    tails = ["/".join(parts[i:]) for i in range(len(parts))]
    found: FilesStanza | None = None
    for stanza in info.stanzas:
        if any(glob == "*" or any(fnmatch.fnmatchcase(t, glob) for t in tails) for glob in stanza.globs):
            found = stanza
    return found


def licence_for(info: CopyrightInfo, path: str) -> str | None:
    """The licence of the source file at ``path`` (None when the file is not DEP-5)."""
    stanza = stanza_for(info, path)
    return stanza.licence if stanza else None


def acceptable(licence: str | None) -> bool:
    """Whether ``licence`` allows training on the material and redistributing the model."""
    if not licence:
        return False
    if _REFUSED.search(licence):
        return False
    low = licence.strip().lower()
    return any(low.startswith(a) for a in _ACCEPTED)
