"""The dashboard's chart, drawn on the server as SVG: one bar per class, split by state.

Each bar is the class's accounts as 100 %, so that classes of different sizes compare;
the numbers themselves are in the table beside it. Colours are SVG attributes (the CSP
allows no style attribute), each state also named in the legend, and the activation rate
written at the end of every bar.
"""

from dataclasses import dataclass

from .labels import STATES

WIDTH = 640
LABEL_WIDTH = 110
RATE_WIDTH = 70
BAR_WIDTH = WIDTH - LABEL_WIDTH - RATE_WIDTH
ROW_HEIGHT = 30
BAR_HEIGHT = 20
LEGEND_ROW = 22
LEGEND_COLUMNS = 2


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


def chart(rows):
    """The geometry of the chart of `rows` [(label, ClassFigures)]."""
    bars = []
    for index, (label, figures) in enumerate(rows):
        x = LABEL_WIDTH
        segments = []
        for state, name, colour in STATES:
            count = figures.states.get(state, 0)
            if count:
                width = BAR_WIDTH * count / figures.total
                segments.append(Segment(round(x, 2), round(width, 2), colour, name, count))
                x += width
        bars.append(Bar(label, index * ROW_HEIGHT, segments, percent(figures.activation_rate)))
    legend_top = len(bars) * ROW_HEIGHT + 10
    column_width = BAR_WIDTH // LEGEND_COLUMNS
    legend = [
        (colour, name, LABEL_WIDTH + index % LEGEND_COLUMNS * column_width, legend_top + index // LEGEND_COLUMNS * LEGEND_ROW)
        for index, (_, name, colour) in enumerate(STATES)
    ]
    height = legend_top + (len(STATES) + LEGEND_COLUMNS - 1) // LEGEND_COLUMNS * LEGEND_ROW
    return Chart(WIDTH, height, bars, legend, LABEL_WIDTH, BAR_WIDTH, BAR_HEIGHT)
