"""The regression corpus replays as recorded: one test per file, named after it."""
from pathlib import Path

import pytest

from unmapfuzz.triage.replay import replay_file

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
FILES = sorted(CORPUS.rglob("*.ops"))


def test_corpus_is_not_empty():
    """The corpus holds programs, so the replay below proves something."""
    assert len(FILES) >= 7


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(CORPUS)) for p in FILES])
def test_replays_as_recorded(path):
    """Every implementation's verdict on this program equals its recorded expect line."""
    result = replay_file(str(path))
    assert result.status == "as recorded", result.line()
