"""Every table's columns in one place (DESIGN.md, Contract 3). No imports: figure and table jobs
read this without pulling in torch or the training code.

Per-run tables (one file per checkpoint, written by the analysis stages):

* ``DISSECTION``: best concept per unit; ``threshold`` is the unit's activation threshold T_k,
  ``interpretable`` = IoU above ``dissect.iou_threshold``. A unit that overlaps no label gets
  label ``-`` and no category.
* ``DISSECTION_BOOTSTRAP``: per bootstrap replicate over probe images, the counts of
  interpretable units and unique concepts among them.
* ``GROUND_TRUTH``: planted units (exact detectors of a label, or noise) and what dissection found.
* ``MIS``: Mechanistic Interpretability Score per unit: ``mis`` = ``mis_confidence`` (mean sigmoid(alpha d)
  over tasks, the published MIS), ``mis_accuracy`` the 0/1 machine accuracy; constant units: empty, ``n_tasks`` 0.
* ``MIS_TASKS``: the audit of every MIS task (``pruneinterp mis --tasks-out``): image rows and their
  ranks from their side's end.
* ``CLASS_ACCURACY``: per class, top-1 accuracy on the probe (the class units of MIS).
* ``SIMILARITY``: one layer pair and similarity measure (``method``: svcca | pwcca | cka).
* ``PROBE_STATS``: per probe label, its share of all probe pixels and the best IoU a unit can reach
  (``probe_stats.csv`` next to the probe, :func:`pruneinterp.data.broden.probe_stats`).
* ``METRICS``: per epoch and split, top-1 and loss (the training stages; ``train_running`` is the
  running average over an epoch's batches).

Study tables (stacked over the runs of a study, ``results/<study>/tables/``) put the run's identity
``RUN`` in front of the per-run columns; where a per-run column clashes with the identity it is
renamed (the similarity measure's ``method`` becomes ``metric``).

* ``SPARSITY``: per run, one row per pruned layer (``scope`` layer), the prunable weights
  (``prunable``) and all parameters (``all``). ``fraction_removed`` counts masked weights;
  ``effective_sparsity`` (layer and prunable rows; empty for ``all``) the masked weights plus the
  unmasked ones that cannot affect the output (reading a channel that is always 0, or feeding one
  nothing reads; :mod:`pruneinterp.effective`).
* ``BASELINE``: the identity of a reference network outside the pruning chains (``network`` e.g.
  ``random_init``).
"""

RUN = ["study", "model", "seed", "method", "schedule", "retrain", "level", "sparsity"]
ARM = ["method", "schedule", "retrain"]  # what distinguishes the pruning chains of one study and seed
RUN_KEYS = ARM + ["seed", "level"]  # one run of a study

METRICS = RUN + ["epoch", "split", "top1", "loss"]
SPARSITY = ["study", "model", "seed", "method", "schedule", "retrain", "level", "scope", "name", "total",
            "remaining", "fraction_removed", "effective_sparsity"]
BASELINE = ["study", "model", "seed", "network"]

DISSECTION = ["layer", "unit", "label", "category", "iou", "threshold", "interpretable"]
DISSECTION_BOOTSTRAP = ["layer", "replicate", "interpretable_units", "unique_concepts"]
GROUND_TRUTH = ["unit", "planted", "label", "iou", "iou_bound", "interpretable", "recovered"]
MIS = ["layer", "unit", "mis", "n_tasks", "mis_accuracy", "mis_confidence"]
MIS_TASKS = ["layer", "unit", "task", "side", "role", "image", "rank"]
CLASS_ACCURACY = ["class", "name", "n", "top1"]
SIMILARITY = ["layer_a", "layer_b", "method", "similarity", "dims_a", "dims_b", "n_samples"]
PROBE_STATS = ["label", "category", "coverage", "bound", "feasible"]
