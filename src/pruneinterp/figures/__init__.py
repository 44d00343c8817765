"""Paper figures and tables, drawn from the tidy tables only (no typed-in numbers).

One module per paper (:mod:`.frankle_bau`, :mod:`.von_rad_seuffert`, :mod:`.blakeney`), figures
across papers in :mod:`.comparisons`, shared helpers in :mod:`._common`; the registry is
:data:`.spec.FIGURES`. Importing the package is cheap (the workflow reads the spec in every job):
a figure's module, and matplotlib, are imported when it is drawn.
"""

from __future__ import annotations

import importlib
import os
from typing import Any, Sequence

from .spec import FIGURES


def draw(name: str, tables: dict[str, str | os.PathLike[str]], outputs: Sequence[str], **params: Any) -> None:
    """Draw figure or table ``name`` from its study tables (``tables``: table name -> file; the
    spec's first table is passed positionally, the others and the optional ones by keyword)."""
    import pandas as pd

    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; allowed: {', '.join(FIGURES)}")
    spec = FIGURES[name]
    missing = [t for t in spec.tables if t not in tables]
    if missing:
        raise ValueError(f"{name} needs the {', '.join(missing)} table(s); given: {', '.join(tables)}")
    fn = getattr(importlib.import_module(f".{spec.module}", __name__), name)
    first, *rest = spec.tables
    extra = {k: pd.read_csv(tables[k]) for k in (*rest, *spec.optional) if k in tables}
    import numpy as np

    state = np.random.get_state()
    np.random.seed(0)  # seaborn's strip-plot jitter and bootstrap intervals draw from numpy's global
    try:               # generator: seeded, a figure is the same file in every run
        fn(pd.read_csv(tables[first]), list(outputs), **extra, **params)
    finally:
        np.random.set_state(state)
