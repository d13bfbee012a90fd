"""From measurements to figures: throughput, latency percentiles, cores used, verdicts;
printed as a table and kept as JSON in bench/results/.
"""

import json
import statistics
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from scenarios import SCENARIOS

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Row:
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
    target_per_core: int
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
        p99_ms=round(cuts[98] * 1000, 2) if cuts else 0.0,
        server_cores=round(server_cores, 2),
        per_server_core=round(per_core, 1),
        target_per_core=scenario.target,
        verdict="PASS" if per_core >= scenario.target and not measurement.errors else "FAIL",
        db_cores=round(measurement.cpu.get("database", 0.0) / seconds, 2),
        client_cores=round(measurement.client_cpu / seconds, 2),
        other_cores=round(max(0.0, other) / seconds, 2),
        errors=len(measurement.errors),
        first_errors=[message for message, _ in Counter(measurement.errors).most_common(3)],
    )


COLUMNS = [
    ("scenario", "scenario", "{}"),
    ("clients", "clients", "{}"),
    ("throughput", "throughput", "{:.1f}"),
    ("unit", "unit", "{}"),
    ("p50_ms", "p50 ms", "{:.1f}"),
    ("p99_ms", "p99 ms", "{:.1f}"),
    ("server_cores", "server cores", "{:.2f}"),
    ("per_server_core", "per core", "{:.1f}"),
    ("target_per_core", "target/core", "≥ {}"),
    ("verdict", "verdict", "{}"),
    ("db_cores", "db cores", "{:.2f}"),
    ("client_cores", "load cores", "{:.2f}"),
    ("other_cores", "other cores", "{:.2f}"),
    ("errors", "errors", "{}"),
]


def table(rows):
    cells = [[title for _, title, _ in COLUMNS]]
    cells += [[form.format(getattr(row, key)) for key, _, form in COLUMNS] for row in rows]
    widths = [max(len(line[column]) for line in cells) for column in range(len(COLUMNS))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)) for line in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    for row in rows:
        for message in row.first_errors:
            lines.append(f"  {row.scenario} x{row.clients}: {message}")
    return "\n".join(lines)


def save(rows, every_run, context):
    """Write the table's rows (the median run of each case) and every run to bench/results/."""
    RESULTS.mkdir(exist_ok=True)
    moment = datetime.fromisoformat(context["date"])
    path = RESULTS / f"{moment:%Y%m%d-%H%M%S}-{context['database']}.json"
    document = {**context, "results": [asdict(row) for row in rows], "every_run": [asdict(row) for row in every_run]}
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return path
