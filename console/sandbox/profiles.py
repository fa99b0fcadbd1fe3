"""The sample world: endpoints with their latency profiles and subscriptions, event types and payloads."""

from __future__ import annotations

import random
from dataclasses import dataclass

EVENT_TYPES = ("reward.redeemed", "reward.reversed", "cashback.credited", "giftcard.issued")
EVENT_TYPE_WEIGHTS = (0.60, 0.08, 0.22, 0.10)
CURRENCIES = ("INR", "INR", "INR", "USD", "EUR", "GBP")


@dataclass(frozen=True)
class EndpointProfile:
    """How a sample endpoint behaves: latency (lognormal around p50), base failure rates, subscriptions."""

    id: str
    name: str
    host: str
    scheme: str
    p50_ms: float
    sigma: float
    error_rate: float
    timeout_rate: float
    timeout_s: float
    event_types: tuple[str, ...]


PROFILES: tuple[EndpointProfile, ...] = (
    EndpointProfile(
        "ep_payments",
        "Payments ledger",
        "payments.example.com",
        "standard",
        120,
        0.45,
        0.004,
        0.001,
        10,
        ("reward.redeemed", "reward.reversed", "cashback.credited"),
    ),
    EndpointProfile(
        "ep_inventory",
        "Inventory",
        "inventory.example.com",
        "standard",
        60,
        0.35,
        0.003,
        0.0005,
        5,
        ("reward.redeemed", "reward.reversed", "giftcard.issued"),
    ),
    EndpointProfile(
        "ep_crm",
        "CRM",
        "crm.example.com",
        "stripe",
        260,
        0.8,
        0.006,
        0.008,
        10,
        EVENT_TYPES,
    ),
    EndpointProfile(
        "ep_analytics",
        "Analytics",
        "analytics.example.com",
        "github",
        40,
        0.3,
        0.002,
        0.0005,
        5,
        EVENT_TYPES,
    ),
    EndpointProfile(
        "ep_fraud",
        "Fraud screening",
        "fraud.example.com",
        "standard",
        90,
        0.5,
        0.003,
        0.002,
        8,
        ("reward.redeemed", "cashback.credited"),
    ),
    EndpointProfile(
        "ep_giftcards",
        "Gift cards",
        "giftcards.example.com",
        "stripe",
        180,
        0.6,
        0.005,
        0.002,
        10,
        ("giftcard.issued", "reward.reversed", "reward.redeemed"),
    ),
)


def make_payload(
    rng: random.Random, event_id: str, event_type: str, user: int, stamp: str
) -> dict[str, object]:
    """A reward-event payload for one event: event, ids, amount, currency, status and timestamp."""
    if event_type == "cashback.credited":
        amount: int | float = rng.choice((25, 50, 75, 100, 150)) + rng.choice((0, 0, 0.5))
    elif event_type == "giftcard.issued":
        amount = rng.choice((500, 1000, 2000, 5000))
    else:
        amount = rng.choice((100, 200, 250, 500, 750, 1000, 1500))
    return {
        "event": event_type,
        "event_id": event_id,
        "user_id": f"user_{user}",
        "reward_id": f"reward_{rng.randint(100, 999)}",
        "amount": amount,
        "currency": rng.choice(CURRENCIES),
        "status": "reversed" if event_type == "reward.reversed" else "success",
        "timestamp": stamp,
    }


def sample_secret(rng: random.Random, scheme: str) -> str:
    """A sandbox secret in the scheme's usual shape (whsec_ + base64 for standard)."""
    import base64

    key = bytes(rng.getrandbits(8) for _ in range(24))
    if scheme == "standard":
        return "whsec_" + base64.b64encode(key).decode()
    return ("whsec_" if scheme == "stripe" else "") + key.hex()
