"""``python -m chaos [drill ...]``: run the fault drills one after the other and print their figures.

Each drill runs in a process of its own (its own Django set-up, database and Redis db); its output
goes to var/chaos/<drill>.log. Exits 1 if any drill found a duplicate, a loss, a consent violation
or another failed check. The table is also written to var/chaos/results.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from chaos.accounting import COLUMNS, DrillResult
from chaos.drills import DRILLS, LOG_ROOT, ROOT

REDIS_DBS = (10, 11, 12, 13)
DRILL_PROCESS_TIMEOUT = 45 * 60


def _row(cells: list[str]) -> str:
    widths = [16, 10, 8, 10, 6, 8, 18, 8]
    return "  ".join(cell.rjust(width) if i else cell.ljust(width) for i, (cell, width) in enumerate(zip(cells, widths, strict=True)))


def run_drill(name: str, *, scale: float, redis_db: int) -> DrillResult:
    LOG_ROOT.mkdir(parents=True, exist_ok=True)
    result_path = LOG_ROOT / f"{name}.json"
    result_path.unlink(missing_ok=True)
    log_path = LOG_ROOT / f"{name}.log"
    command = [sys.executable, "-m", "chaos.drills", name, "--result", str(result_path), "--scale", str(scale), "--redis-db", str(redis_db)]
    started = time.monotonic()
    with open(log_path, "wb") as log:
        try:
            # A session of its own: a timed-out drill is stopped with everything it started.
            process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            process.wait(timeout=DRILL_PROCESS_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 15)
            process.wait()
    if result_path.exists():
        return DrillResult.from_json(result_path.read_text())
    return DrillResult(name, seconds=time.monotonic() - started, problems=[f"the drill gave no figures; see {log_path}"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chaos", description="Fault drills against the real stack.")
    parser.add_argument("drills", nargs="*", metavar="drill", help=f"some of: {', '.join(DRILLS)} (default: all)")
    parser.add_argument("--scale", type=float, default=float(os.environ.get("CHAOS_SCALE", "1")), help="size factor (1 = the issue's sizes)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.drills if name not in DRILLS]
    if unknown:
        parser.error(f"unknown drill(s) {', '.join(unknown)}; choose from {', '.join(DRILLS)}")
    names = args.drills or list(DRILLS)

    print(f"Fault drills at scale {args.scale:g} (logs in {LOG_ROOT.relative_to(ROOT)}/)", flush=True)
    print(_row(list(COLUMNS)), flush=True)
    results = []
    for index, name in enumerate(names):
        result = run_drill(name, scale=args.scale, redis_db=REDIS_DBS[index % len(REDIS_DBS)])
        results.append(result)
        print(_row(result.cells()) + ("" if result.passed else "  FAILED"), flush=True)
        for note in result.notes:
            print(f"    {note}", flush=True)
        for problem in result.problems:
            print(f"    problem: {problem}", flush=True)

    table = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    table += ["| " + " | ".join(result.cells()) + " |" for result in results]
    (LOG_ROOT / "results.md").write_text("\n".join(table) + "\n")
    failed = [result.drill for result in results if not result.passed]
    print(f"FAILED: {', '.join(failed)}" if failed else "All drills passed: no duplicate, no loss, no consent violation.", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
