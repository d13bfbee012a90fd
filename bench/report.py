"""From measurements to figures: throughput, latency percentiles, cores used, ratios to
the floor, verdicts; printed as tables and kept as JSON in bench/results/.
"""

import json
import statistics
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from load import Measurement
from scenarios import SCENARIOS

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Row:
    """One measurement (a window, or several slices added up) of one scenario."""

    scenario: str
    clients: int
    completed: int
    seconds: float
    throughput: float
    unit: str
    p50_ms: float
    p99_ms: float
    server_cores: float
    per_server_core: float
    # The absolute targets (the login's); None, and no verdict, for a scenario compared with its floor.
    target_per_core: int | None
    p99_target_ms: int | None
    verdict: str
    db_cores: float
    client_cores: float
    other_cores: float
    errors: int
    first_errors: list[str]


def summarize(name, clients, measurement):
    scenario = SCENARIOS[name]
    latencies, seconds = measurement.latencies, measurement.seconds
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else latencies * 99
    throughput = len(latencies) / seconds
    server_cores = measurement.cpu["server"] / seconds
    per_core = throughput / server_cores if server_cores else 0.0
    p99_ms = cuts[98] * 1000 if cuts else 0.0
    # Whatever else the machine did meanwhile: other people's processes disturb the figures.
    other = measurement.machine_cpu - sum(measurement.cpu.values()) - measurement.client_cpu
    return Row(
        scenario=name,
        clients=clients,
        completed=len(latencies),
        seconds=round(seconds, 2),
        throughput=round(throughput, 1),
        unit=scenario.unit,
        p50_ms=round(cuts[49] * 1000, 2) if cuts else 0.0,
        p99_ms=round(p99_ms, 2),
        server_cores=round(server_cores, 2),
        per_server_core=round(per_core, 1),
        target_per_core=scenario.target,
        p99_target_ms=scenario.p99_target_ms,
        verdict=_absolute_verdict(scenario, per_core, p99_ms, measurement.errors),
        db_cores=round(measurement.cpu.get("database", 0.0) / seconds, 2),
        client_cores=round(measurement.client_cpu / seconds, 2),
        other_cores=round(max(0.0, other) / seconds, 2),
        errors=len(measurement.errors),
        first_errors=[message for message, _ in Counter(measurement.errors).most_common(3)],
    )


def _absolute_verdict(scenario, per_core, p99_ms, errors):
    if scenario.target is None:
        return ""
    fast_enough = scenario.p99_target_ms is None or p99_ms < scenario.p99_target_ms
    return "PASS" if per_core >= scenario.target and fast_enough and not errors else "FAIL"


@dataclass
class Ratio:
    """A hot path against its floor, from slices measured in turns (pairs)."""

    scenario: str
    floor: str
    clients: int
    pairs: int
    per_core: float  # the hot path's per-core rate, median over its slices
    floor_per_core: float  # the floor's, median over its slices
    ratio: float  # median over the pairs of (hot path per core ÷ floor per core)
    lowest: float  # the pairs' extreme ratios: how much the noise moved them
    highest: float
    target: float
    verdict: str
    errors: int


@dataclass
class PairedRun:
    """One run of a hot path against its floor: the ratio, the slices added up, each slice."""

    ratio: Ratio
    combined: tuple[Row, Row]  # the hot path's and the floor's slices, added up
    slices: list[tuple[Row, Row]]


def paired(name, clients, measurements):
    """`measurements`: (hot path, floor) pairs of slices of scenario `name` at `clients` clients."""
    scenario = SCENARIOS[name]
    slices = [(summarize(name, clients, hot), summarize(scenario.floor, clients, floor)) for hot, floor in measurements]
    ratios = [hot.per_server_core / floor.per_server_core if floor.per_server_core else 0.0 for hot, floor in slices]
    errors = sum(hot.errors + floor.errors for hot, floor in slices)
    # Judged as shown, to two decimals: a 1.497 shown as 1.50 must not fail a target of 1.5.
    ratio = round(statistics.median(ratios), 2)
    hots, floors = zip(*measurements, strict=True)
    combined = (summarize(name, clients, Measurement.combined(hots)), summarize(scenario.floor, clients, Measurement.combined(floors)))
    return PairedRun(
        ratio=Ratio(
            scenario=name,
            floor=scenario.floor,
            clients=clients,
            pairs=len(slices),
            per_core=round(statistics.median(hot.per_server_core for hot, _ in slices), 1),
            floor_per_core=round(statistics.median(floor.per_server_core for _, floor in slices), 1),
            ratio=ratio,
            lowest=round(min(ratios), 2),
            highest=round(max(ratios), 2),
            target=scenario.ratio_target,
            verdict="PASS" if ratio >= scenario.ratio_target and not errors else "FAIL",
            errors=errors,
        ),
        combined=combined,
        slices=slices,
    )


@dataclass
class WorkerMemory:
    pid: int
    started_mb: float  # once the server answers, before the logins
    after_mb: float  # after the logins


@dataclass
class MemoryResult:
    logins: int
    clients: int
    errors: int
    workers: list[WorkerMemory]
    target_mb: int
    verdict: str


def memory_result(logins, clients, errors, workers, target_mb):
    fits = workers and all(worker.after_mb <= target_mb for worker in workers)
    return MemoryResult(logins, clients, errors, workers, target_mb, "PASS" if fits and not errors else "FAIL")


@dataclass
class Figure:
    """One of the issue's figures against its target, as the closing table shows it."""

    figure: str
    clients: int | None
    measured: float
    target: str
    verdict: str


def figures(ratios, absolute_rows, memory):
    found = [
        Figure(f"{ratio.scenario} ÷ {ratio.floor}", ratio.clients, ratio.ratio, f"≥ {ratio.target}", ratio.verdict) for ratio in ratios
    ]
    for row in absolute_rows:
        if row.target_per_core is None:
            continue
        fast = _pass(row.per_server_core >= row.target_per_core and not row.errors)
        found.append(Figure(f"{row.scenario} per core ({row.unit})", row.clients, row.per_server_core, f"≥ {row.target_per_core}", fast))
        if row.p99_target_ms is not None:
            quick = row.p99_ms < row.p99_target_ms and not row.errors
            found.append(Figure(f"{row.scenario} p99 (ms)", row.clients, row.p99_ms, f"< {row.p99_target_ms}", _pass(quick)))
    if memory is not None:
        largest = round(max((worker.after_mb for worker in memory.workers), default=0.0), 1)
        label = f"memory per worker after {memory.logins:,} logins (MB)"
        found.append(Figure(label, None, largest, f"≤ {memory.target_mb}", memory.verdict))
    return found


def _pass(condition):
    return "PASS" if condition else "FAIL"


FIGURE_COLUMNS = [
    ("figure", lambda figure: figure.figure),
    ("clients", lambda figure: "" if figure.clients is None else str(figure.clients)),
    ("measured", lambda figure: f"{figure.measured:.2f}" if figure.measured < 10 else f"{figure.measured:.1f}"),
    ("target", lambda figure: figure.target),
    ("verdict", lambda figure: figure.verdict),
]


def figure_table(found):
    return "\n".join(_render(FIGURE_COLUMNS, found))


def _render(columns, items):
    """A text table: `columns` are (title, function of an item giving its cell)."""
    cells = [[title for title, _ in columns]]
    cells += [[cell(item) for _, cell in columns] for item in items]
    widths = [max(len(line[column]) for line in cells) for column in range(len(columns))]
    lines = [_line(line, widths) for line in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def _line(cells, widths):
    """The first column (the names) aligned left, the figures right."""
    names, *values = cells
    aligned = [cell.rjust(width) for cell, width in zip(values, widths[1:], strict=True)]
    return "  ".join([names.ljust(widths[0]), *aligned])


RATIO_COLUMNS = [
    ("scenario", lambda ratio: ratio.scenario),
    ("clients", lambda ratio: str(ratio.clients)),
    ("per core", lambda ratio: f"{ratio.per_core:.1f}"),
    ("floor", lambda ratio: ratio.floor),
    ("floor per core", lambda ratio: f"{ratio.floor_per_core:.1f}"),
    ("ratio", lambda ratio: f"{ratio.ratio:.2f}"),
    ("pairs' range", lambda ratio: f"{ratio.lowest:.2f}–{ratio.highest:.2f}"),
    ("target", lambda ratio: f"≥ {ratio.target}"),
    ("verdict", lambda ratio: ratio.verdict),
    ("errors", lambda ratio: str(ratio.errors)),
]


def ratio_table(ratios):
    return "\n".join(_render(RATIO_COLUMNS, ratios))


def _floor_label(row):
    return f"· {row.scenario}" if SCENARIOS[row.scenario].server == "floor" else row.scenario


DETAIL_COLUMNS = [
    ("scenario", _floor_label),
    ("clients", lambda row: str(row.clients)),
    ("seconds", lambda row: f"{row.seconds:.1f}"),
    ("throughput", lambda row: f"{row.throughput:.1f}"),
    ("unit", lambda row: row.unit),
    ("p50 ms", lambda row: f"{row.p50_ms:.2f}"),
    ("p99 ms", lambda row: f"{row.p99_ms:.2f}"),
    ("server cores", lambda row: f"{row.server_cores:.2f}"),
    ("per core", lambda row: f"{row.per_server_core:.1f}"),
    ("db cores", lambda row: f"{row.db_cores:.2f}"),
    ("load cores", lambda row: f"{row.client_cores:.2f}"),
    ("other cores", lambda row: f"{row.other_cores:.2f}"),
    ("errors", lambda row: str(row.errors)),
]


def detail_table(rows):
    """Every scenario measured, its slices added up; a floor's row follows its hot path's."""
    lines = _render(DETAIL_COLUMNS, rows)
    for row in rows:
        lines += [f"  {row.scenario} x{row.clients}: {message}" for message in row.first_errors]
    return "\n".join(lines)


def memory_table(memory):
    columns = [
        ("worker", lambda worker: str(worker.pid)),
        ("started MB", lambda worker: f"{worker.started_mb:.1f}"),
        (f"after {memory.logins:,} logins MB", lambda worker: f"{worker.after_mb:.1f}"),
        ("target MB", lambda _: f"≤ {memory.target_mb}"),
    ]
    verdict = f"{memory.verdict} ({memory.errors} errors)" if memory.errors else memory.verdict
    return "\n".join([*_render(columns, memory.workers), f"memory per worker: {verdict}"])


def comparison_table(details):
    """Per-core rates under each server, from {server: rows}: the same cases in the same order."""
    servers = list(details)
    lines = list(zip(*details.values(), strict=True))
    columns = [("scenario", lambda line: _floor_label(line[0])), ("clients", lambda line: str(line[0].clients))]
    columns += [(f"{server} per core", lambda line, at=at: f"{line[at].per_server_core:.1f}") for at, server in enumerate(servers)]
    if len(servers) == 2:
        columns.append((f"{servers[1]} ÷ {servers[0]}", _quotient))
    return "\n".join(_render(columns, lines))


def _quotient(line):
    first, second = line
    return f"{second.per_server_core / first.per_server_core:.2f}" if first.per_server_core else "-"


def save(document):
    """Write one run's document to bench/results/<date>-<database>-<server>.json."""
    RESULTS.mkdir(exist_ok=True)
    moment = datetime.fromisoformat(document["date"])
    path = RESULTS / f"{moment:%Y%m%d-%H%M%S}-{document['database']}-{document['server']}.json"
    path.write_text(json.dumps(_plain(document), indent=2, ensure_ascii=False) + "\n")
    return path


def _plain(value):
    """Dataclasses, tuples and lists as JSON's objects and arrays."""
    if hasattr(value, "__dataclass_fields__"):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
