"""The exploded BOM as CSV, for spreadsheets and ERP imports (API and CLI share it)."""

from __future__ import annotations

import csv
import io

from configurator.results import Bom

COLUMNS = ("part", "description", "uom", "quantity", "unit_cost", "extended_cost", "currency")


def flat_bom_csv(bom: Bom) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for line in bom.flat:
        writer.writerow((line.part, line.description, line.uom, line.quantity, line.unit_cost,
                         line.extended_cost, bom.cost_currency))
    return out.getvalue()
