"""The one registry of paper figures and tables: which study each draws, from which study tables
(Contract 3), which arms it needs and which settings (``figures.<name>`` in the config) it takes.

The workflow (``common.smk``) makes one rule per entry, checks the config against ``needs`` and
``settings``, and :func:`pruneinterp.figures.draw` calls ``figures.<module>.<name>``. This module
imports nothing heavy: it is read by the planning code of every job.

To add a figure: a function ``<name>(tables..., outputs, title, dpi, **settings)`` in the paper's
module, an entry here, and its caption ``workflow/report/<name>.rst``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FB, VRS, BL = "Frankle & Bau 2019", "von Rad & Seuffert 2024", "Blakeney et al. 2020"


@dataclass(frozen=True)
class Figure:
    """``tables``: study tables passed to the function (the first positionally, the others by
    keyword); ``optional``: passed when the workflow makes them (``baseline``: dissect.random_baseline;
    ``similarity_controls``: the study has similarity controls).
    ``needs``: arms (method, schedule, retrain) the study must have, where ``{method}`` and
    ``{retrain}`` are the figure's settings. ``requires``: the study flag (mis, similarity) without
    which the figure is not drawn. ``settings``: defaults of the figure's own settings (every figure
    also has ``title``); ``seed`` must be one of the study's seeds, ``level`` a level of the arms in
    ``needs``. ``epochs``: the figure follows one run of ``needs[0]``'s arm epoch by epoch, so its
    retrain strategy must train. ``table``: also written as CSV."""

    name: str
    module: str
    study: str
    tables: tuple[str, ...]
    paper: str
    optional: tuple[str, ...] = ()
    needs: tuple[tuple[str, str, str], ...] = ()
    requires: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    epochs: bool = False
    table: bool = False


_VRS = {"method": "magnitude_global"}
_BL = {"method": "magnitude_layerwise"}
_ONESHOT_BL = tuple(("{method}", "oneshot", r) for r in ("finetune_sgd", "reinit", "random_reinit"))
_ITERATIVE_FT = (("{method}", "iterative", "finetune_sgd"),)
_CONTROLS = ("similarity_controls",)  # reference similarities of unpruned networks, where the study has them

FIGURES: dict[str, Figure] = {f.name: f for f in (
    Figure("fb_fig1", "frankle_bau", "frankle_bau", ("accuracy", "sparsity", "summary"), FB),
    Figure("fb_fig2", "frankle_bau", "frankle_bau", ("summary", "bootstrap", "sparsity"), FB, optional=("baseline",)),
    Figure("fb_fig3", "frankle_bau", "frankle_bau", ("summary",), FB, settings={"seed": 0}),
    Figure("fb_fig4", "frankle_bau", "frankle_bau", ("units",), FB),
    Figure("vrs_fig1", "von_rad_seuffert", "von_rad_seuffert", ("accuracy",), VRS,
           needs=(("{method}", "oneshot", "none"),), settings=_VRS),
    Figure("vrs_fig2", "von_rad_seuffert", "von_rad_seuffert", ("accuracy",), VRS,
           needs=(("{method}", "oneshot", "finetune_sgd"),), settings=_VRS),
    Figure("vrs_fig3", "von_rad_seuffert", "von_rad_seuffert", ("accuracy",), VRS,
           needs=(("{method}", "oneshot", "finetune_sgd"), ("{method}", "iterative", "finetune_sgd")), settings=_VRS),
    Figure("vrs_fig4", "von_rad_seuffert", "von_rad_seuffert", ("accuracy", "sparsity"), VRS,
           settings={**_VRS, "x": "sparsity"}),
    Figure("bl_table1", "blakeney", "blakeney", ("accuracy",), BL, needs=_ONESHOT_BL, settings=_BL, table=True),
    Figure("bl_table3", "blakeney", "blakeney", ("accuracy",), BL, needs=_ITERATIVE_FT, settings=_BL, table=True),
    Figure("vrs_fig5", "von_rad_seuffert", "von_rad_seuffert", ("mis",), VRS, requires="mis", settings=_VRS),
    Figure("vrs_fig6", "von_rad_seuffert", "von_rad_seuffert", ("mis", "classes"), VRS, requires="mis",
           needs=(("{method}", "oneshot", "{retrain}"),),
           settings={**_VRS, "retrain": "finetune_sgd", "level": 1}),
    Figure("mis_vs_dissection", "comparisons", "frankle_bau", ("mis", "summary", "accuracy"), f"{FB} / {VRS}",
           requires="mis"),
    Figure("bl_fig2", "blakeney", "blakeney", ("similarity",), BL, requires="similarity", needs=_ITERATIVE_FT,
           settings=_BL, optional=_CONTROLS),
    Figure("bl_fig3", "blakeney", "blakeney", ("similarity_epochs",), BL, requires="similarity",
           needs=(("{method}", "oneshot", "{retrain}"),), settings={**_BL, "retrain": "finetune_sgd"}, epochs=True),
    Figure("bl_fig4", "blakeney", "blakeney", ("similarity",), BL, requires="similarity", needs=_ITERATIVE_FT,
           settings=_BL, optional=_CONTROLS),
    Figure("bl_fig5", "blakeney", "blakeney", ("similarity",), BL, requires="similarity",
           needs=tuple(("{method}", "oneshot", r) for r in ("reinit", "random_reinit")), settings=_BL,
           optional=_CONTROLS),
    Figure("bl_metrics", "blakeney", "blakeney", ("similarity",), BL, requires="similarity", needs=_ITERATIVE_FT,
           settings=_BL, optional=_CONTROLS),
)}
