"""Real-sound training corpus: sound effects, speech, music and ambience recorded or produced by
other people, fetched from Debian packages by ``vigil data fetch`` and described by a committed
manifest (the audio itself is never committed).

Reading it from training code::

    from models.corpus.manifest import corpus_available, load_audio, load_manifest
    from models.corpus.split import split_of

    entries = [e for e in load_manifest() if split_of(e.package) == "train"]
    wave = load_audio(entries[0], Path("data/corpus"))   # float32 in [-1, 1], 16 kHz mono
"""
