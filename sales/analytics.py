"""Sales figures for the dashboard, from the latest revision of every quote: win rate,
quote-to-close cycle time, average deal size, discount given per rep and the pipeline.

Amounts are summed per currency and never converted; a quote's list value and discount come
from its stored price, so the figures match what the rep and the customer saw.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlmodel import Session, select

from core.db import aware
from core.money import ZERO
from core.users import User
from sales.models import STATES, Quote

WON, LOST = ("accepted",), ("declined", "expired")


@dataclass(frozen=True)
class SalesFigures:
    win_rate: Decimal | None                        # won / decided, in percent
    won: int
    lost: int
    cycle_days: Decimal | None                      # mean days from first revision to acceptance
    deal_size: dict[str, Decimal]                   # mean contract value of won quotes, per currency
    discount_by_rep: dict[str, dict[str, Decimal]]  # rep -> currency -> list minus net contract value
    pipeline: dict[str, tuple[int, dict[str, Decimal]]]   # state -> (count, value per currency)


def figures(session: Session, visible=None) -> SalesFigures:
    latest = select(Quote).where(Quote.latest)
    if visible is not None:
        latest = latest.where(visible)
    quotes = list(session.exec(latest))
    first_created = {number: at for number, at in session.exec(
        select(Quote.number, Quote.created_at).where(Quote.revision == 1))}
    names = {user_id: name for user_id, name in session.exec(select(User.id, User.name))}
    won = [q for q in quotes if q.state in WON]
    lost = sum(1 for q in quotes if q.state in LOST)
    decided = len(won) + lost
    cycles = [(aware(q.decided_at) - aware(first_created.get(q.number, q.created_at))).total_seconds() / 86400
              for q in won if q.decided_at]
    sizes: dict[str, list[Decimal]] = defaultdict(list)
    for q in won:
        sizes[q.currency].append(q.contract_value or ZERO)
    discount: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    pipeline: dict[str, tuple[int, dict[str, Decimal]]] = {}
    for q in quotes:
        totals = (q.priced or {}).get("totals") or {}
        given = Decimal(totals.get("list_contract_value") or 0) - Decimal(totals.get("contract_value") or 0)
        if q.state not in ("draft", "rejected") and given > 0:
            discount[names.get(q.owner_id, q.owner_id)][q.currency] += given
        count, values = pipeline.get(q.state, (0, defaultdict(lambda: ZERO)))
        values[q.currency] += q.contract_value or ZERO
        pipeline[q.state] = (count + 1, values)
    return SalesFigures(
        win_rate=(Decimal(len(won) * 100) / decided).quantize(Decimal("0.1")) if decided else None,
        won=len(won), lost=lost,
        cycle_days=Decimal(sum(cycles) / len(cycles)).quantize(Decimal("0.1")) if cycles else None,
        deal_size={c: (sum(v, ZERO) / len(v)).quantize(Decimal("0.01")) for c, v in sorted(sizes.items())},
        discount_by_rep={rep: dict(by) for rep, by in sorted(discount.items())},
        pipeline={s: (pipeline[s][0], dict(pipeline[s][1])) for s in STATES if s in pipeline})
