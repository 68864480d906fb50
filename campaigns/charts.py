"""Server-drawn SVG charts for the admin pages: geometry here, markup in campaigns/_chart.html.

No charting library and nothing fetched from elsewhere: the admin works offline, and the strict
Content-Security-Policy needs no exception (colours come from classes in admin.css, never from
inline styles).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 28, 16, 36
MAX_X_LABELS = 7


@dataclass
class ChartLine:
    name: str
    css: str
    points: str  # "x,y x,y ..." for <polyline>


@dataclass
class ChartBar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass
class ChartLabel:
    x: float
    y: float
    text: str


@dataclass
class Chart:
    title: str
    width: int = WIDTH
    height: int = HEIGHT
    lines: list[ChartLine] = field(default_factory=list)
    bars: list[ChartBar] = field(default_factory=list)
    y_ticks: list[ChartLabel] = field(default_factory=list)
    x_ticks: list[ChartLabel] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)  # (css class, name)
    empty: bool = False

    @property
    def plot_left(self) -> int:
        return LEFT

    @property
    def plot_right(self) -> int:
        return self.width - RIGHT

    @property
    def plot_bottom(self) -> int:
        return self.height - BOTTOM

    @property
    def centre_x(self) -> float:
        return (LEFT + self.plot_right) / 2

    @property
    def centre_y(self) -> float:
        return (TOP + self.plot_bottom) / 2


def nice_ceiling(value: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50... not below ``value``: a round top for the y axis."""
    if value <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return int(step * magnitude)
    return int(10 * magnitude)


def _frame(chart: Chart, labels: list[str], top_value: int, slot_centres: list[float]) -> None:
    plot_height = chart.plot_bottom - TOP
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        value = top_value * fraction
        if value != int(value):
            continue
        chart.y_ticks.append(ChartLabel(LEFT - 6, chart.plot_bottom - fraction * plot_height, f"{int(value):,}"))
    if labels:
        every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
        for index in range(0, len(labels), every):
            chart.x_ticks.append(ChartLabel(slot_centres[index], chart.plot_bottom + 18, labels[index]))


def _y(chart: Chart, value: float, top_value: int) -> float:
    return round(chart.plot_bottom - (value / top_value) * (chart.plot_bottom - TOP), 1)


def line_chart(*, title: str, labels: list[str], series: dict[str, list[int]], css: dict[str, str]) -> Chart:
    """One line per series over the same labels (e.g. sends and reads per minute)."""
    chart = Chart(title=title)
    top_value = nice_ceiling(max([v for values in series.values() for v in values] or [0]))
    span = chart.plot_right - LEFT
    count = len(labels)
    xs = [round(LEFT + (span * i / (count - 1) if count > 1 else span / 2), 1) for i in range(count)]
    chart.empty = not any(v for values in series.values() for v in values)
    _frame(chart, labels, top_value, xs)
    for name, values in series.items():
        points = " ".join(f"{x},{_y(chart, v, top_value)}" for x, v in zip(xs, values, strict=True))
        chart.lines.append(ChartLine(name=name, css=css[name], points=points))
        chart.legend.append((css[name], name))
    return chart


def stacked_bar_chart(*, title: str, labels: list[str], series: dict[str, list[int]], css: dict[str, str]) -> Chart:
    """One bar per label, stacked by series (e.g. messages by status per day)."""
    chart = Chart(title=title)
    count = len(labels)
    totals = [sum(values[i] for values in series.values()) for i in range(count)]
    top_value = nice_ceiling(max(totals or [0]))
    slot = (chart.plot_right - LEFT) / max(count, 1)
    centres = [round(LEFT + slot * (i + 0.5), 1) for i in range(count)]
    chart.empty = not any(totals)
    _frame(chart, labels, top_value, centres)
    for i in range(count):
        base = 0
        for name, values in series.items():
            if values[i]:
                top = _y(chart, base + values[i], top_value)
                chart.bars.append(
                    ChartBar(
                        x=round(centres[i] - slot * 0.35, 1), y=top, width=round(slot * 0.7, 1),
                        height=round(_y(chart, base, top_value) - top, 1), css=css[name], title=f"{labels[i]}: {values[i]:,} {name}",
                    )
                )  # fmt: skip
                base += values[i]
    chart.legend = [(css[name], name) for name in series]
    return chart
