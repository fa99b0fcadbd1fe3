"""`[[route]]`: an endpoint's alerts go to its owner's channel (by endpoint glob, rule or severity), first match
wins unless `continue = true`, `default_channels` when none matches; and each mistake is one line naming the
file, the route and the key."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from console.domain.times import now_ms
from console.ingest.service import ingest_sources
from console.store import Store
from console.watch.channels import ChannelSender
from console.watch.logs import Log
from console.watch.outbox import OutboxDelivery
from console.watch.rules import AlertsError, parse_alerts
from console.watch.state import run_evaluation
from tests.watch_support import receiving, traffic

CHANNELS = "".join(
    f'[[channel]]\nname = "{name}"\nkind = "webhook"\nurl = "http://127.0.0.1:9/{name}"\n\n'
    for name in ("payments", "search", "oncall", "ops")
)
RULES = (
    '[[rule]]\nname = "endpoint-down"\nmetric = "success_rate"\nbelow = 0.5\nseverity = "critical"\n\n'
    '[[rule]]\nname = "backlog"\nmetric = "undelivered"\nabove = 100\nseverity = "warning"\n\n'
)


def _names(text: str, rule: str, endpoint: str, severity: str, default: str = "") -> list[str]:
    config = parse_alerts(default + RULES + CHANNELS + text)
    return [c.name for c in config.channels_for(rule, endpoint, severity)]


def test_first_match_wins_continue_goes_on_and_the_default_takes_the_rest() -> None:
    routes = (
        '[[route]]\nseverity = "critical"\nchannels = ["oncall"]\ncontinue = true\n\n'
        '[[route]]\nendpoint = "ep_pay*"\nchannels = ["payments"]\n\n'
        '[[route]]\nendpoint = "ep_search_[0-9]"\nrule = "backlog"\nchannels = ["search"]\n\n'
        '[[route]]\nendpoint = "ep_*"\nchannels = ["ops"]\n\n'
    )
    assert _names(routes, "endpoint-down", "ep_payments", "critical") == ["payments", "oncall"]
    assert _names(routes, "backlog", "ep_payments", "warning") == ["payments"]
    assert _names(routes, "backlog", "ep_search_1", "warning") == ["search"]
    assert _names(routes, "endpoint-down", "ep_search_1", "warning") == ["ops"], "the rule must match too"
    default = 'default_channels = ["oncall"]\n'
    assert _names(routes, "backlog", "shop_orders", "warning", default) == ["oncall"], "no match: the default"


def test_without_routes_or_default_every_channel_gets_it() -> None:
    assert _names("", "backlog", "ep_a", "warning") == ["payments", "search", "oncall", "ops"]
    only = '[[route]]\nendpoint = "ep_pay*"\nchannels = ["payments"]\n'
    assert _names(only, "backlog", "ep_other", "") == ["payments", "search", "oncall", "ops"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[[route]]\nendpoint = "ep_*"\n', "alerts.toml: route #1: channels: missing (required"),
        (
            '[[route]]\nname = "pay"\nendpoint = "ep_*"\nchannels = ["payment"]\n',
            "alerts.toml: route 'pay': channels: no channel named 'payment' (channels: oncall, ops, payments, search)",
        ),
        ('[[route]]\nchannels = "ops"\n', "alerts.toml: route #1: channels: must be a non-empty list"),
        (
            '[[route]]\nchannels = ["ops"]\nendpoint = 7\n',
            "alerts.toml: route #1: endpoint: must be a non-empty",
        ),
        (
            '[[route]]\nchannels = ["ops"]\ncontinue = "yes"\n',
            "alerts.toml: route #1: continue: must be true",
        ),
        ('[[route]]\nchannels = ["ops"]\nteam = "pay"\n', "alerts.toml: route #1: team: unknown key"),
        ('default_channels = ["nobody"]\n', "alerts.toml: default_channels: no channel named 'nobody'"),
        ("default_channels = []\n", "alerts.toml: default_channels: must be a non-empty list"),
        (
            '[[route]]\nchannels = ["ops"]\ndefault_channels = ["ops"]\n',
            "alerts.toml: route #1: default_channels: a top-level key: write it before the first",
        ),
        (
            '[[route]]\nname = "a"\nchannels = ["ops"]\n[[route]]\nname = "a"\nchannels = ["ops"]\n',
            "route 'a': name: duplicate",
        ),
        (
            '[[rule]]\nname = "x"\nmetric = "undelivered"\nabove = 1\nseverity = "page"\n',
            "alerts.toml: rule 'x': severity: must be one of critical, error, warning, info, got 'page'",
        ),
    ],
)
def test_a_bad_route_is_one_line_naming_file_table_and_key(text: str, expected: str) -> None:
    with pytest.raises(AlertsError) as caught:
        top, tables = (text, "") if text.startswith("default_channels") else ("", text)
        parse_alerts(top + CHANNELS + tables, Path("alerts.toml"))
    assert any(line.startswith(expected) or expected in line for line in caught.value.problems), (
        caught.value.problems
    )


def test_an_endpoints_alerts_reach_only_its_owners_receiver(store: Store, tmp_path: Path) -> None:
    with receiving() as payments, receiving() as ops:
        config = parse_alerts(
            'default_channels = ["ops"]\n\n'
            '[[rule]]\nname = "endpoint-down"\nmetric = "success_rate"\nbelow = 0.5\nmin_attempts = 5\n\n'
            f'[[channel]]\nname = "payments"\nkind = "webhook"\nurl = "{payments.url}"\n\n'
            f'[[channel]]\nname = "ops"\nkind = "webhook"\nurl = "{ops.url}"\n\n'
            '[[route]]\nendpoint = "ep_pay*"\nchannels = ["payments"]\n'
        )
        sender = ChannelSender(config)

        async def deliver() -> None:
            try:
                await OutboxDelivery(store, config, sender, Log(io.StringIO())).deliver_due()
            finally:
                await sender.aclose()

        for name, lines in (
            ("down.jsonl", traffic("ep_payments", 6, 503) + traffic("ep_search", 6, 503)),
            ("back.jsonl", traffic("ep_payments", 20, 200) + traffic("ep_search", 20, 200)),
        ):
            (tmp_path / name).write_bytes(b"".join(lines))
            ingest_sources(store, [str(tmp_path / name)])
            run_evaluation(store, config.rules, config.channels, now_ms(), route=config.channels_for)
            asyncio.run(deliver())
        assert [(b["endpoint"], b["state"]) for b in payments.bodies()] == [
            ("ep_payments", "firing"),
            ("ep_payments", "resolved"),
        ]
        assert [(b["endpoint"], b["state"]) for b in ops.bodies()] == [
            ("ep_search", "firing"),
            ("ep_search", "resolved"),
        ]
