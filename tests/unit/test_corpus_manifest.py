"""The committed corpus manifest and split: vocabulary, licences, reserved packages, ordering,
leave-package-out coverage. No network, no audio needed."""

from __future__ import annotations

from collections import defaultdict

import pytest

from models.corpus.fetch import fetch
from models.corpus.licences import acceptable
from models.corpus.manifest import COLUMNS, DEFAULT_MANIFEST, load_manifest
from models.corpus.sources import RESERVED_ORIGINS, RESERVED_PACKAGES, SOURCES, PackageSource, Rule, source
from models.corpus.split import SPLIT_FILE, SPLITS, split_of, split_table
from models.corpus.vocabulary import EVENT_CLASSES, MAX_SECONDS, MIN_SECONDS, ROLE_OF_CLASS

ENTRIES = load_manifest()


def test_manifest_is_not_empty_and_has_the_documented_columns():
    assert DEFAULT_MANIFEST.read_text().splitlines()[0].split("\t") == list(COLUMNS)
    assert len(ENTRIES) > 1000


def test_no_reserved_package_in_manifest_split_or_sources():
    named = {e.package for e in ENTRIES} | set(split_table()) | {s.name for s in SOURCES}
    assert not named & RESERVED_PACKAGES
    text = DEFAULT_MANIFEST.read_text() + SPLIT_FILE.read_text()
    for name in RESERVED_PACKAGES:
        assert f"{name}\t" not in text, name


def test_reserved_packages_are_refused_everywhere(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        PackageSource("0ad-data", (Rule("x", "music"),))
    with pytest.raises(ValueError, match="reserved"):
        source("openarena-data")
    # refused before anything is downloaded
    assert fetch(tmp_path, ["hedgewars-data"], tmp_path / "m.tsv") == 2
    assert not (tmp_path / "m.tsv").exists()


def test_no_clip_of_doubtful_provenance():
    """TripleA ships clips named after film scores under a blanket GPL-2+; none may be used, and
    the rules must not pick them up again."""
    film = ("company_of_the_ring", "gladiator_entrance", "1812_overture", "serious_epic_theme")
    assert not [e.member for e in ENTRIES if any(f in e.member.lower() for f in film)]
    triplea = source("triplea")
    member = "./usr/share/games/triplea/assets/sounds/classical/x/x_company_of_the_ring.mp3"
    assert triplea.classify(member) is None


def test_rows_use_the_vocabulary_and_role_follows_class():
    for e in ENTRIES:
        assert e.cls in ROLE_OF_CLASS, e
        assert e.role == ROLE_OF_CLASS[e.cls], e


def test_every_row_has_an_accepted_licence_and_a_version():
    for e in ENTRIES:
        assert e.version, e
        assert acceptable(e.licence), e


def test_durations_within_role_limits():
    for e in ENTRIES:
        assert MIN_SECONDS <= e.duration_s <= MAX_SECONDS[e.role] + 1e-3, e  # type: ignore[index]


def test_manifest_sorted_and_unique():
    keys = [(e.package, e.member) for e in ENTRIES]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    assert len({e.file for e in ENTRIES}) == len(ENTRIES)
    assert all(e.file.startswith(f"audio/{e.package}/") and e.file.endswith(".wav") for e in ENTRIES)


def test_split_covers_every_package_once():
    table = split_table()
    assert set(table.values()) <= set(SPLITS)
    assert {e.package for e in ENTRIES} <= set(table)
    assert {s.name for s in SOURCES} == set(table)


def test_test_split_covers_every_incident_class_with_packages_never_trained_on():
    test_classes = {e.cls for e in ENTRIES if split_of(e.package) == "test"}
    assert set(EVENT_CLASSES) <= test_classes
    assert any(e.role == "bed" and split_of(e.package) == "test" for e in ENTRIES)
    train = [e for e in ENTRIES if split_of(e.package) == "train"]
    assert len(train) > len(ENTRIES) / 2


def test_no_recording_is_shared_between_splits():
    splits_of: dict[str, set[str]] = defaultdict(set)
    for e in ENTRIES:
        splits_of[e.sha256].add(split_of(e.package))
    leaks = {h: s for h, s in splits_of.items() if len(s) > 1}
    assert not leaks


def test_reserved_origins_pattern():
    assert RESERVED_ORIGINS.search("2009, Wildfire Games http://www.wildfiregames.com/")
    assert RESERVED_ORIGINS.search(" OpenArena\n Nexuiz GPLed Data")
    assert not RESERVED_ORIGINS.search("Slawomir 'Q009' Blauciak")
