import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

#: modules whose tests run for minutes each (board builds, gate-level boards, formal proofs):
#: they are collected first, so on both cores (``-n 2 --dist worksteal``, ./dev.sh test) the
#: suite does not end with one core still in a long build while the other has nothing left
LONG_FIRST = ("test_gate_level.py", "test_boards_synth.py", "test_formal.py")


def pytest_collection_modifyitems(config, items):
    def rank(item):
        name = item.path.name
        return LONG_FIRST.index(name) if name in LONG_FIRST else len(LONG_FIRST)
    items.sort(key=rank)        # stable: each module keeps its own order
