"""Whether this desk has lost the bus, from its own connection.

While Redis is unreachable the bus's last health event read back from it (LIVE) is
stale, and the one saying it went down waits in memory with every other event: only
the process's own connection can tell. "Lost" is: reached once, not now, and not
because the desk is closing it (quitting). Before the first connect it is not lost,
only not yet there (the start-up screen says so).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class BusWatch:
    lost: bool = False
    closing: bool = False
    """Set when the desk closes the bus itself: that is not a loss."""
    _seen_up: bool = False

    def update(self, connected: bool) -> bool:
        """Take this frame's connection state; True the moment the bus is lost."""
        self._seen_up |= connected
        lost = self._seen_up and not connected and not self.closing
        newly = lost and not self.lost
        self.lost = lost
        return newly
