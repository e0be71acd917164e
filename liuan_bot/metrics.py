"""A few Prometheus metrics, rendered in the text exposition format (no extra dependency)."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping

LATENCY_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)


class Histogram:
    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.buckets, value)] += 1
        self.total += value
        self.n += 1

    def render(self, name: str) -> list[str]:
        lines, running = [], 0
        for bound, count in zip(self.buckets, self.counts, strict=False):
            running += count
            lines.append(f'{name}_bucket{{le="{bound:g}"}} {running}')
        lines.append(f'{name}_bucket{{le="+Inf"}} {self.n}')
        lines.append(f"{name}_sum {self.total:.6f}")
        lines.append(f"{name}_count {self.n}")
        return lines


class Metrics:
    """Callbacks by outcome, outbox depth and delivery latency, API errors by errcode."""

    def __init__(self) -> None:
        self.callbacks: Counter[str] = Counter()
        self.delivery_latency = Histogram()

    def callback(self, outcome: str) -> None:
        self.callbacks[outcome] += 1

    def render(
        self,
        outbox_depth: Mapping[str, int],
        api_errors: Mapping[int, int],
        config_errors: Mapping[tuple[str, int], int] | None = None,
    ) -> str:
        lines = [
            "# HELP liuan_callbacks_total WeCom callbacks by outcome.",
            "# TYPE liuan_callbacks_total counter",
        ]
        lines += [
            f'liuan_callbacks_total{{outcome="{k}"}} {v}'
            for k, v in sorted(self.callbacks.items())
        ]
        lines += [
            "# HELP liuan_outbox_messages Outbox rows by status.",
            "# TYPE liuan_outbox_messages gauge",
        ]
        for status in ("pending", "sending", "sent", "parked"):
            lines.append(
                f'liuan_outbox_messages{{status="{status}"}} {outbox_depth.get(status, 0)}'
            )
        lines += [
            "# HELP liuan_outbox_delivery_seconds Time from enqueue to delivery.",
            "# TYPE liuan_outbox_delivery_seconds histogram",
            *self.delivery_latency.render("liuan_outbox_delivery_seconds"),
            "# HELP liuan_wecom_api_errors_total Non-zero errcodes returned by the WeCom API.",
            "# TYPE liuan_wecom_api_errors_total counter",
        ]
        lines += [
            f'liuan_wecom_api_errors_total{{errcode="{k}"}} {v}'
            for k, v in sorted(api_errors.items())
        ]
        problems = dict(config_errors or {})
        lines += [
            "# HELP liuan_outbox_held 1 while a WeCom configuration error holds the outbox.",
            "# TYPE liuan_outbox_held gauge",
            f"liuan_outbox_held {1 if problems else 0}",
            "# HELP liuan_outbox_config_error WeCom configuration errors holding rows (kept).",
            "# TYPE liuan_outbox_config_error gauge",
        ]
        lines += [
            f'liuan_outbox_config_error{{scope="{scope}",errcode="{code}"}} {v}'
            for (scope, code), v in sorted(problems.items())
        ]
        return "\n".join(lines) + "\n"
