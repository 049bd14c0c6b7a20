"""What a key changed, written to the terminal before the loop moves on."""

from __future__ import annotations

from textual.screen import Screen
from textual.widget import Widget


def draw_now(screen: Screen[object]) -> bool:
    """Restyle and draw, in this callback, what is waiting to be drawn on `screen`.

    A widget a key changed reaches the terminal through Textual's messages: the
    widget's idle restyles it and tells the screen (an Update), the screen's idle
    resumes its update timer, and the timer's task draws. Each is a turn of the loop
    behind whatever else it had ready, 5-10 ms a turn under the working desk's
    firehose: `b` filled the ticket in 3-5 ms and the ticket reached the terminal
    20-30 ms later (`python -m benchmarks ui`, traced).

    The same restyle and the same update run here, at once. A change of layout or
    scroll is left to Textual (the compositor's map must be rebuilt first), as is
    everything while the app batches updates. Returns whether it drew.
    """
    app = screen.app
    if app._batch_count or not screen.is_current or not screen.is_attached:
        return False
    widgets = [node for node in screen.walk_children(Widget) if not node._closing]
    for widget in widgets:
        if widget._refresh_styles_required:
            widget._refresh_styles_required = False
            widget.update_node_styles()
    if screen._layout_required or screen._scroll_required:
        return False
    if any(widget._layout_required or widget._scroll_required for widget in widgets):
        return False
    dirty = screen._dirty_widgets
    for widget in widgets:
        if widget._repaint_required:
            widget._repaint_required = False
            if widget.display:
                dirty.add(widget)
    if not dirty and not screen._repaint_required:
        return False
    screen._on_timer_update()
    return True
