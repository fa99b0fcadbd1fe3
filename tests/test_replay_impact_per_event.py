"""The replay preview counts users, rewards and money once per event, however many endpoints the event goes to,
and covers exactly what will be sent: with superseded deliveries skipped, the figures drop what is left out (an
event superseded at one endpoint but sent to another still counts, once). SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from console.domain.filters import DeliveryFilter, DeliveryState
from console.domain.replay import ReplayImpact, ReplayPlan, ReplaySelection
from console.endpoints import load_endpoints
from console.replay.service import ReplayService
from console.store import Store
from tests.sandbox import EndpointSpec, write_endpoints
from tests.test_replay_impact import event, seed

SIX = [f"ep_{n}" for n in range(6)]


# evt_red failed at ep_0 and ep_1 and its reversal reached ep_0 only: superseded at ep_0, still sent to ep_1;
# evt_old is superseded at its only endpoint by evt_new: left out entirely; evt_x is sent. (Also the console's
# Impact line test, tests/tui/test_replay_impact_line.py.)
SUPERSEDED_HISTORY = [
    *(
        event(
            "evt_red",
            "reward.redeemed",
            "10:00:00",
            "10:00:00",
            503,
            user="u1",
            reward="r1",
            amount=500,
            currency="INR",
            endpoint=e,
        )
        for e in ("ep_0", "ep_1")
    ),
    event(
        "evt_rev",
        "reward.reversed",
        "10:05:00",
        "10:05:00",
        200,
        user="u1",
        reward="r1",
        amount=500,
        currency="INR",
        endpoint="ep_0",
    ),
    # evt_old superseded at its only endpoint by evt_new: left out entirely
    event(
        "evt_old",
        "reward.issued",
        "09:00:00",
        "09:00:00",
        503,
        user="u2",
        reward="r2",
        amount=70,
        currency="EUR",
        endpoint="ep_2",
    ),
    event(
        "evt_new",
        "reward.issued",
        "09:30:00",
        "09:30:00",
        200,
        user="u2",
        reward="r2",
        amount=80,
        currency="EUR",
        endpoint="ep_2",
    ),
    event(
        "evt_x",
        "cashback.credited",
        "11:00:00",
        "11:00:00",
        503,
        user="u3",
        reward="r3",
        amount=5,
        currency="EUR",
        endpoint="ep_3",
    ),
]


def _plan(store: Store, folder: Path, skip: bool = False) -> ReplayPlan:
    config = write_endpoints(folder, 9, [EndpointSpec(e) for e in SIX])
    service = ReplayService(store, load_endpoints(config))
    plan = service.plan(
        ReplaySelection(DeliveryFilter(state=DeliveryState.UNDELIVERED), skip_superseded=skip)
    )
    return plan


def _impact(plan: ReplayPlan) -> ReplayImpact:
    assert plan.impact is not None
    return plan.impact


def test_one_redemption_to_six_endpoints_is_500_inr_not_3000(store: Store, tmp_path: Path) -> None:
    lines = [
        event(
            "evt_big",
            "reward.redeemed",
            "10:00:00",
            "10:00:00",
            503,
            user="u1",
            reward="r1",
            amount=500,
            currency="INR",
            endpoint=endpoint,
        )
        for endpoint in SIX
    ] + [
        event(
            "evt_small",
            "reward.redeemed",
            "10:01:00",
            "10:01:00",
            503,
            user="u2",
            reward="r2",
            amount=20,
            currency="INR",
            endpoint=endpoint,
        )
        for endpoint in SIX[:2]
    ]
    seed(store, tmp_path, lines)
    plan = _plan(store, tmp_path)
    impact = _impact(plan)
    assert plan.to_send == 8 and impact.deliveries == 8  # deliveries: per endpoint
    assert impact.amounts == {"INR": "520"}  # 500 + 20, each event once
    assert (impact.users, impact.rewards, impact.events) == (2, 2, 2)


def test_skipping_superseded_recounts_what_is_sent(store: Store, tmp_path: Path) -> None:
    lines = SUPERSEDED_HISTORY
    seed(store, tmp_path, lines)
    everything = _impact(_plan(store, tmp_path))
    assert everything.deliveries == 4 and everything.superseded == 2
    assert everything.amounts == {"INR": "500", "EUR": "75"} and (everything.users, everything.rewards) == (
        3,
        3,
    )
    skipped = _plan(store, tmp_path, skip=True)
    impact = _impact(skipped)
    assert skipped.to_send == 2 and impact.deliveries == 2  # evt_red@ep_1, evt_x
    assert impact.amounts == {"INR": "500", "EUR": "5"} and (impact.users, impact.rewards) == (2, 2)
    assert impact.superseded == 2  # still said, as left out
