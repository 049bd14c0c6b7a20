"""The desk's partial screen updates, written to the terminal with fewer bytes.

Textual's compositor sends the lines it repaints as spans; this writes the same
characters in the same colours, but

- cropped on the left too: a span from column 40 to 46 of a table's line is those six
  cells, where Textual (`ChopsUpdate.render_segments`, "TODO: crop to x extents")
  writes the line from the widget's left edge to column 46: a quote changing one
  price sent its whole row, symbol and all;
- with each colour change only: Textual writes every segment as `ESC[<full SGR>m`
  text `ESC[0m`, about 24 bytes of escapes at 256 colours for each cell of a table's
  row; here a segment in the colours already set costs nothing and one that changes
  only the foreground sends only that (`ESC[38;5;71m`). The attributes (bold,
  reverse, ...) changing resets first, as Textual's reset does; the update ends reset;
- without a cursor move where the cursor already is, nor the newline Textual puts
  between lines (every line begins with its own move).

What reaches the terminal's cells is the same as Textual's: the same text, the same
colours and attributes per cell (tests/ui/test_quote_drawing.py replays what the desk
writes through a terminal model and compares it with Textual's render of the screen,
cell by cell). Full updates (a new layout, a resize) stay Textual's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from rich.color import ColorSystem
from rich.console import Console
from rich.control import Control
from rich.style import Style
from textual._compositor import ChopsUpdate, Compositor, CompositorMap, ReflowResult
from textual.geometry import Region, Size
from textual.strip import SGR_STYLES, Strip
from textual.widget import Widget

SGRState = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]
"""What a style sets: its attribute codes, its foreground codes, its background codes."""

PLAIN: SGRState = ((), (), ())


def sgr_state(style: Style, color_system: ColorSystem) -> SGRState:
    """The SGR codes of `style`, as Textual's `Strip.render_ansi` writes them."""
    attributes = style._attributes & style._set_attributes
    attrs = tuple(
        SGR_STYLES[bit] for bit in range(attributes.bit_length()) if attributes & (1 << bit)
    )
    color, bgcolor = style._color, style._bgcolor
    fg = tuple(color.downgrade(color_system).get_ansi_codes()) if color is not None else ()
    bg = tuple(bgcolor.downgrade(color_system).get_ansi_codes(False)) if bgcolor is not None else ()
    return attrs, fg, bg


def transition(old: SGRState, new: SGRState) -> str:
    """The escape that takes the terminal from `old`'s colours to `new`'s."""
    if old == new:
        return ""
    attrs, fg, bg = new
    if attrs != old[0]:
        codes = [*attrs, *fg, *bg]
        if old == PLAIN:
            return f"\x1b[{';'.join(codes)}m"
        return f"\x1b[{';'.join(['0', *codes])}m"
    codes = []
    if fg != old[1]:
        codes += fg or ("39",)
    if bg != old[2]:
        codes += bg or ("49",)
    return f"\x1b[{';'.join(codes)}m"


class LeanWriter:
    """Writes strips at positions, remembering the colours and the cursor between
    them (within one update)."""

    def __init__(self, console: Console) -> None:
        self.color_system = console._color_system or ColorSystem.TRUECOLOR
        self.out: list[str] = []
        self.state = PLAIN
        self.cursor: tuple[int, int] | None = None
        self._states: dict[Style, SGRState] = {}

    def write(self, x: int, y: int, strip: Strip) -> None:
        out = self.out
        if self.cursor != (x, y):
            out.append(Control.move_to(x, y).segment.text)
        states = self._states
        for text, style, _ in strip:
            if not text:
                continue
            if style is None or style._link:
                if self.state != PLAIN:
                    out.append("\x1b[0m")
                    self.state = PLAIN
                out.append(
                    text if style is None else Strip.render_style(style, text, self.color_system)
                )
            else:
                new = states.get(style)
                if new is None:
                    new = states[style] = sgr_state(style, self.color_system)
                if new != self.state:
                    out.append(transition(self.state, new))
                    self.state = new
                out.append(text)
        self.cursor = (x + strip.cell_length, y)

    def finish(self) -> str:
        if self.state != PLAIN:
            self.out.append("\x1b[0m")
            self.state = PLAIN
        return "".join(self.out)


class LeanChopsUpdate(ChopsUpdate):
    """Textual's partial update, written by `LeanWriter`, each span cropped to itself."""

    def render_segments(self, console: Console) -> str:
        writer = LeanWriter(console)
        chops = self.chops
        chop_ends = self.chop_ends
        for y, x1, x2 in self.spans:
            for end, (x, strip) in zip(chop_ends[y], chops[y].items(), strict=False):
                if strip is None or x >= x2 or end <= x1:
                    continue
                left = max(x, x1)
                right = min(end, x2)
                if left > x or right < end:
                    strip = strip.crop(left - x, right - x)
                writer.write(left, y, strip)
        return writer.finish()


class LeanCompositor(Compositor):
    """Textual's compositor whose partial updates are `LeanChopsUpdate`s, and which
    renders for them only the widgets, and their lines, under a changed region.

    Textual renders every widget inside the bounding box of all the changed regions,
    every line of each: a quote at the top left and a balance at the bottom right had
    it render the whole screen (the ticket's thirty widgets between them included)
    for a few lines of each. What is rendered for the update is the same: the lines
    it writes come from the same widgets (front to back, as Textual paints them)."""

    _update_regions: list[Region] | None = None
    _laid_out: CompositorMap | None = None

    def reflow(self, parent: Widget, size: Size) -> ReflowResult:
        """As Textual's, but what changed is measured against the screen as the last
        layout left it, so that what a widget gone since covered is drawn again.

        Textual measures it against its map of the screen, which it rebuilds from the
        widgets mounted at the time whenever a widget's region is asked for after a
        widget out of view was refreshed (`Compositor.full_map`): on the desk, every
        frame (a hidden pane's table asks how many rows it shows). A toast that left
        the screen's widgets just before such a rebuild was in neither map, and the
        layout that followed drew nothing again under it: at 80x24 the pane bar kept
        a gone toast's text for good (tests/ui/test_toast_repaint.py)."""
        if self._laid_out is not None:
            self._full_map = self._laid_out
        result = super().reflow(parent, size)
        self._laid_out = self._full_map
        return result

    def clear(self) -> None:
        super().clear()
        self._laid_out = None

    def render_partial_update(self) -> ChopsUpdate | None:
        self._update_regions = list(self._dirty_regions)
        try:
            update = super().render_partial_update()
        finally:
            self._update_regions = None
        if update is None:
            return None
        return LeanChopsUpdate(update.chops, update.spans, update.chop_ends)

    def _render_chops(
        self, crop: Region, is_rendered_line: Callable[[int], bool]
    ) -> Sequence[Mapping[int, Strip]]:
        """As Textual's, but a line that fills its one chop is not `Strip.divide`d.

        `Strip.divide` caches its result on the strip, and a strip that is its own
        only piece caches `[self]`: a reference cycle. Every line the compositor drew
        became cyclic garbage (the strip, its eight caches, its segments), which the
        cyclic collector freed: about 18,000 objects between two generation-1 passes
        on the working desk, each pass 40-60 ms with the loop stopped."""
        cuts = self.cuts
        chops: list[dict[int, Strip | None]] = [dict.fromkeys(cut_set[:-1]) for cut_set in cuts]
        intersection = Region.intersection
        for region, clip, strips in self._get_renders(crop):
            render_region = intersection(region, clip)
            render_x = render_region.x
            first_cut, last_cut = render_region.column_span
            for y, strip in zip(render_region.line_range, strips, strict=False):
                if not is_rendered_line(y):
                    continue
                chops_line = chops[y]
                final_cuts = [cut for cut in cuts[y] if last_cut >= cut >= first_cut]
                pieces = [cut - render_x for cut in final_cuts[1:]]
                if pieces == [strip.cell_length]:
                    cut_strips: Sequence[Strip] = (strip,)
                else:
                    cut_strips = strip.divide(pieces)
                # Painted front to back: the first strip for a cut wins.
                for cut, piece in zip(final_cuts, cut_strips, strict=False):
                    if chops_line.get(cut) is None:
                        chops_line[cut] = piece
        return chops  # type: ignore[return-value]

    def _get_renders(
        self, crop: Region | None = None
    ) -> Iterable[tuple[Region, Region, list[Strip]]]:
        regions = self._update_regions
        if regions is None or crop is None:
            yield from super()._get_renders(crop)
            return
        crop_overlaps = crop.overlaps
        for widget, (region, clip) in self.visible_widgets.items():
            if not crop_overlaps(clip):
                continue
            visible = region.intersection(clip)
            if not visible:
                continue
            hit = [r for r in regions if r.overlaps(visible)]
            if not hit:
                continue
            top = max(visible.y, min(r.y for r in hit))
            bottom = min(visible.bottom, max(r.bottom for r in hit))
            band = Region(visible.x, top, visible.width, bottom - top)
            lines = band.translate((-region.x, -region.y))
            yield region, band, widget.render_lines(lines)
