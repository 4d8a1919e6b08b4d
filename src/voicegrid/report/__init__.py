"""`voicegrid report`: the plan for people who do not read code, as one self-contained HTML file (and a
PDF), from the operator's figures or a business's call records, the price catalog, the planner and the
measured density."""

from datetime import date
from pathlib import Path

from voicegrid.catalog import Catalog
from voicegrid.report.figures import Figures, Inputs, compute
from voicegrid.report.render import Branding, document
from voicegrid.report.sources import density


def build(
    inputs: Inputs, catalog: Catalog, on: date, *, results: Path | None = None, brand: Branding | None = None
) -> tuple[Figures, str]:
    per_core, source = density(results)
    figures = compute(inputs, catalog, on, per_core, source)
    return figures, document(figures, brand or Branding())


__all__ = ["Branding", "Figures", "Inputs", "build"]
