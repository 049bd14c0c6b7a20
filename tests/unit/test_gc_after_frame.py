"""The UI collects garbage right after its frames; cycles that outlive one young
collection must still be freed (they used to stay for good: an idle desk grew about
1.8 MB a minute)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from silvertine_tui.ui.app import GC_THRESHOLDS, GC_YOUNG_AFTER_FRAME, collect_after_frame


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


@pytest.fixture
def app_gc() -> Iterator[None]:
    """The collector as the app sets it up (and back afterwards)."""
    before = gc.get_threshold()
    gc.collect()
    gc.set_threshold(*GC_THRESHOLDS)
    yield
    gc.set_threshold(*before)
    gc.collect()


def test_cycles_that_outlive_a_young_collection_are_freed(app_gc: None) -> None:
    # Frames for a while: each one leaves cycles that are still referenced when the
    # young generation is collected, and become garbage just after.
    for _ in range(GC_THRESHOLDS[1] * 3):
        alive = [Node() for _ in range(GC_YOUNG_AFTER_FRAME)]
        collect_after_frame()
        del alive
    left = gc.collect()
    # Without the cascade every one of the 300,000 would still be waiting here.
    assert left < GC_YOUNG_AFTER_FRAME * GC_THRESHOLDS[1] * 2
    assert gc.get_count()[1] < GC_THRESHOLDS[1]
