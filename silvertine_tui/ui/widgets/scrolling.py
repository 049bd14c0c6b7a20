"""Growing a line-API view without laying the whole screen out again.

Textual's `virtual_size` is a layout reactive: every row added to a table or line
added to the log laid out the whole desk (every widget measured and placed again,
then the whole screen composited), 20-50 ms on a working desk, once a frame while
orders come and go. A view whose own size does not change needs none of that: only
its scrollbars follow its content, and those are updated here. A layout still runs
when a scrollbar appears or goes, as that changes the room the content has.
"""

from __future__ import annotations

from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.widget import Widget


def set_virtual_size(view: ScrollView, size: Size) -> None:
    """Give `view` a new scrollable size (the caller repaints what moved); a layout only
    if a scrollbar comes or goes (Textual's `_refresh_scrollbars` asks for it then)."""
    if size == view.virtual_size:
        return
    view.set_reactive(Widget.virtual_size, size)
    if view.container_size:
        # Scrollbars' visibility, their thumbs, and the scroll offset kept in range.
        view._scroll_update(size)
    else:  # not laid out yet: the first layout sizes everything
        view.refresh(layout=True)
