"""Pacing windows (wecom-facts §3.4: 30 messages per member per minute, excess dropped)."""

from __future__ import annotations

from liuan_bot.pacing import APP_LIMITS, WINDOW_MARGIN_S, window_wait


def test_the_31st_message_waits_past_the_minute_plus_a_margin_for_call_latency() -> None:
    stamps = [float(i) for i in range(30)]  # 30 sends, one a second, from t=0
    wait = window_wait(stamps, APP_LIMITS, 30.0)
    # the first send left at t=0; the 31st may leave only when 60 s plus the margin passed
    assert wait == 60.0 + WINDOW_MARGIN_S - 30.0
    assert window_wait(stamps, APP_LIMITS, 30.0 + wait) == 0.0


def test_any_window_of_wecoms_minute_holds_at_most_30_even_with_latency_jitter() -> None:
    stamps: list[float] = []
    now = 0.0
    while len(stamps) < 200:
        now += window_wait(stamps, APP_LIMITS, now)
        stamps.append(now)
    # WeCom counts each message on arrival, up to the margin later than it left
    arrivals = [t + (WINDOW_MARGIN_S if i % 2 else 0.0) for i, t in enumerate(stamps)]
    arrivals.sort()
    worst = max(sum(1 for a in arrivals if start <= a < start + 60.0) for start in arrivals)
    assert worst <= 30
