"""The dashboard's chart, drawn on the server as SVG: one bar per class, split by state.

Each bar is the class's accounts as 100 %, so that classes of different sizes compare;
the numbers themselves are in the table beside it. Colours are SVG attributes (the CSP
allows no style attribute), each state also named in the legend, and the activation rate
written at the end of every bar.

Two layouts of the same figures: `chart` for wide screens (class names left of the bars, the
legend in two columns) and `compact_chart` for phones (each class name above its bar, the
legend in one column), drawn about as wide as a phone's screen so that its 14-pixel text stays
14 pixels; the page shows one or the other by the screen's width.
"""

from dataclasses import dataclass

from .labels import STATES


@dataclass(frozen=True)
class Layout:
    width: int
    label_width: int  # left of the bars; 0: each label above its bar
    rate_width: int
    row_height: int
    bar_top: int  # the bar's offset in its row (the label's line above it, if any)
    legend_columns: int
    bar_height: int = 20
    legend_row: int = 22

    @property
    def bar_width(self):
        return self.width - self.label_width - self.rate_width


WIDE = Layout(width=640, label_width=110, rate_width=70, row_height=30, bar_top=0, legend_columns=2)
COMPACT = Layout(width=330, label_width=0, rate_width=54, row_height=50, bar_top=22, legend_columns=1)


@dataclass
class Segment:
    x: float
    width: float
    colour: str
    label: str
    count: int


@dataclass
class Bar:
    label: str
    y: int
    segments: list
    rate: str
    label_x: int = 0
    label_y: int = 0
    label_anchor: str = "end"


@dataclass
class Chart:
    width: int
    height: int
    bars: list
    legend: list
    label_width: int
    bar_width: int
    bar_height: int


def percent(rate):
    return "–" if rate is None else f"{round(rate * 100)} %"


def chart(rows, layout=WIDE):
    """The geometry of the chart of `rows` [(label, ClassFigures)] in `layout`."""
    bars = []
    for index, (label, figures) in enumerate(rows):
        x = layout.label_width
        y = index * layout.row_height + layout.bar_top
        segments = []
        for state, name, colour in STATES:
            count = figures.states.get(state, 0)
            if count:
                width = layout.bar_width * count / figures.total
                segments.append(Segment(round(x, 2), round(width, 2), colour, name, count))
                x += width
        if layout.label_width:
            label_x, label_y, anchor = layout.label_width - 8, y + layout.bar_height - 5, "end"
        else:
            label_x, label_y, anchor = 0, y - 6, "start"
        bars.append(Bar(label, y, segments, percent(figures.activation_rate), label_x, label_y, anchor))
    legend_top = len(bars) * layout.row_height + 10
    column_width = layout.bar_width // layout.legend_columns
    columns = layout.legend_columns
    legend = [
        (colour, name, layout.label_width + index % columns * column_width, legend_top + index // columns * layout.legend_row)
        for index, (_, name, colour) in enumerate(STATES)
    ]
    height = legend_top + (len(STATES) + columns - 1) // columns * layout.legend_row
    return Chart(layout.width, height, bars, legend, layout.label_width, layout.bar_width, layout.bar_height)


def compact_chart(rows):
    """The chart of `rows` for a phone's screen."""
    return chart(rows, COMPACT)
