"""The one table ``make bench`` prints (and bench/RESULTS.md keeps), from the results JSON.

The targets are issue 16's ("Half the CPU per message"); rows without a target are context.
"""

from __future__ import annotations

from typing import Any


def _get(results: dict, *path: str) -> Any:
    value: Any = results
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def rows(results: dict) -> list[tuple[str, str, str, str]]:
    """(benchmark, figure, target, verdict) rows."""
    r = results
    audience_s, audience_mb = _get(r, "audience", "seconds"), _get(r, "audience", "peak_rss_mb")
    rate, ceiling = _get(r, "sending", "per_second"), _get(r, "ceiling", "per_second")
    ratio = rate / ceiling if rate and ceiling else None
    busiest, limit = _get(r, "limiter", "busiest_1s"), _get(r, "limiter", "rate")
    accepted, applied = _get(r, "webhooks", "accepted_per_s"), _get(r, "webhooks", "applied_per_s")
    contacts, events = _get(r, "sizes", "contacts"), _get(r, "sizes", "events")
    recipients = _get(r, "sizes", "campaign_recipients")
    p99_ms, lag_ms = _get(r, "webhooks", "p99_ms"), _get(r, "webhooks", "apply_lag_at_end_ms")
    stop_answer_p99 = _get(r, "sending", "stop_while_sending", "answer_p99_ms")
    stop_effective_p99 = _get(r, "sending", "stop_while_sending", "effective_p99_ms")
    stop_sent_after = _get(r, "sending", "stop_while_sending", "sent_after_stop_answered")
    cpu_ms, cpu, sent = _get(r, "sending", "cpu_ms_per_message"), _get(r, "sending", "cpu_seconds"), _get(r, "sending", "sent")
    return [
        (f"1 audience: materialise {_fmt(contacts)} recipients", f"{_fmt(audience_s)} s", "<= 10 s",
         _verdict(audience_s <= 10 if audience_s is not None else None)),
        ("1 audience: peak RSS of the process", f"{_fmt(audience_mb)} MB", "< 300 MB",
         _verdict(audience_mb < 300 if audience_mb is not None else None)),
        (f"2 segment count ({_fmt(contacts)} contacts, {_fmt(events)} events), median of 3",
         f"{_fmt(_get(r, 'segment', 'seconds'), 2)} s", "", ""),
        (f"3 end to end: {_fmt(recipients)} recipients, launch to last ack", f"{_fmt(rate)} msg/s", ">= 1,000 msg/s",
         _verdict(rate >= 1000 if rate is not None else None)),
        ("3 claim -> stored result p50 / p99",
         f"{_fmt(_get(r, 'sending', 'claim_to_result_p50_ms'), 0)} / {_fmt(_get(r, 'sending', 'claim_to_result_p99_ms'), 0)} ms", "", ""),
        ("3 raw client ceiling (same concurrency)", f"{_fmt(ceiling)} msg/s", "", ""),
        ("3 end to end / raw ceiling", f"{_fmt(100 * ratio if ratio else None)} %", ">= 85 %",
         _verdict(ratio >= 0.85 if ratio is not None else None)),
        (f"4 limiter at {_fmt(limit, 0)}/s: busiest 1 s window (limiter clock)", _fmt(busiest), f"<= {_fmt(limit, 0)}",
         _verdict(busiest <= limit if busiest is not None and limit else None)),
        ("4 limiter: busiest 1 s window (senders' clock)", _fmt(_get(r, "limiter", "busiest_1s_taker_clock")), "", ""),
        ("4 limiter: average", f"{_fmt(_get(r, 'limiter', 'average_per_s'))}/s", "close to the rate", ""),
        ("5 webhooks accepted (gunicorn)", f"{_fmt(accepted)}/s", ">= 2,000/s",
         _verdict(accepted >= 2000 if accepted is not None else None)),
        ("5 webhook answer p50 / p99",
         f"{_fmt(_get(r, 'webhooks', 'p50_ms'), 0)} / {_fmt(p99_ms, 0)} ms", "p99 < 100 ms",
         _verdict(p99_ms < 100 if p99_ms is not None else None)),
        ("5 webhooks applied by the workers (backlog of delivered + read)", f"{_fmt(applied)}/s",
         ">= 3,000/s (3 statuses x 1,000 msg/s)", _verdict(applied >= 3000 if applied is not None else None)),
        ("5 applied while arriving; lag behind the last arrival",
         f"{_fmt(_get(r, 'webhooks', 'applied_while_arriving_per_s'))}/s; {_fmt(lag_ms, 0)} ms", "keeps up: lag < 2 s",
         _verdict(lag_ms < 2000 if lag_ms is not None else None)),
        ("6 CPU per sent message (workers, web, beat, PostgreSQL, Redis)", f"{_fmt(cpu_ms, 2)} ms", "<= 1.0 ms",
         _verdict(cpu_ms <= 1.0 if cpu_ms is not None else None)),
        ("6 CPU per sent message: workers / PostgreSQL / Redis",
         " / ".join(_fmt(1000 * cpu[k] / sent if cpu and sent and k in cpu else None, 2) for k in ("workers", "postgres", "redis")) + " ms",
         "", ""),
        ("7 STOP while sending at full rate: answered p50 / p99",
         f"{_fmt(_get(r, 'sending', 'stop_while_sending', 'answer_p50_ms'), 0)} / {_fmt(stop_answer_p99, 0)} ms", "p99 <= 500 ms",
         _verdict(stop_answer_p99 <= 500 if stop_answer_p99 is not None else None)),
        ("7 STOP while sending: effective (opt-out committed) p50 / p99 after the post",
         f"{_fmt(_get(r, 'sending', 'stop_while_sending', 'effective_p50_ms'), 0)} / {_fmt(stop_effective_p99, 0)} ms", "p99 <= 500 ms",
         _verdict(stop_effective_p99 <= 500 if stop_effective_p99 is not None else None)),
        (f"7 STOP while sending: sends dispatched after the answer ({_fmt(_get(r, 'sending', 'stop_while_sending', 'stops'))} STOPs)",
         _fmt(stop_sent_after), "0", _verdict(stop_sent_after == 0 if stop_sent_after is not None else None)),
        *scaleout_rows(r),
    ]  # fmt: skip


def scaleout_rows(results: dict) -> list[tuple[str, str, str, str]]:
    """Benchmark 8: one row per round (N worker groups), then the shared limiter and the accounting."""
    rounds = _get(results, "scaleout", "rounds")
    if not rounds:
        return [("8 scale-out: N worker groups on one PostgreSQL and Redis", "not run", "", "")]
    rows = []
    for entry in rounds:
        groups = list(entry["per_group"].values())
        rows.append((
            f"8 scale-out, {entry['groups']} group(s): msg/s while sending (per group); CPU ms/msg per group",
            f"{_fmt(entry['sending_per_second'])} ({' / '.join(_fmt(g['sending_per_second']) for g in groups)}); "
            + " / ".join(_fmt(g["cpu_ms_per_message"], 2) for g in groups),
            "", "",
        ))  # fmt: skip
    rate = rounds[0]["limiter_rate"]
    busiest = max(entry["busiest_1s_limiter_clock"] for entry in rounds)
    duplicates, lost = sum(entry["duplicates"] for entry in rounds), sum(entry["lost"] for entry in rounds)
    return [
        *rows,
        (f"8 scale-out: shared limiter at {_fmt(rate)}/s, busiest 1 s (limiter clock; sandbox clock)",
         f"{_fmt(busiest)}; {_fmt(max(entry['busiest_1s_sandbox_clock'] for entry in rounds))}", f"<= {_fmt(rate)}",
         _verdict(busiest <= rate)),
        ("8 scale-out: duplicates / lost, all rounds", f"{_fmt(duplicates)} / {_fmt(lost)}", "0 / 0",
         _verdict(duplicates == 0 and lost == 0)),
    ]  # fmt: skip


def table(results: dict) -> str:
    header = ("benchmark", "measured", "target", "")
    body = rows(results)
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(4)]

    def line(row: tuple[str, ...]) -> str:
        return "| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |"

    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *(line(row) for row in body)])
