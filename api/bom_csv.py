"""Bills of materials as CSV, for spreadsheets and ERP imports (API and CLI share them)."""

from __future__ import annotations

import csv
import io

from configurator.results import Bom
from core.money import currency

COLUMNS = ("part", "description", "uom", "quantity", "unit_cost", "extended_cost", "currency")


def flat_bom_csv(bom: Bom) -> str:
    """Costs as the JSON shows them: per-unit amounts in at least the currency's minor units."""
    cur = currency(bom.cost_currency)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for line in bom.flat:
        writer.writerow((line.part, line.description, line.uom, line.quantity, cur.per_unit(line.unit_cost),
                         cur.per_unit(line.extended_cost), bom.cost_currency))
    return out.getvalue()


ORDER_COLUMNS = ("line", "product", "part", "description", "uom", "quantity")


def order_bom_csv(rows: list[dict]) -> str:
    """An order's parts (sales.orders.bom_rows), one row per line and part."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ORDER_COLUMNS)
    for row in rows:
        writer.writerow([row[c] for c in ORDER_COLUMNS])
    return out.getvalue()
