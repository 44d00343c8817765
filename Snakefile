# pruneinterp: train -> prune level k -> retrain -> extract activations -> dissect -> tables -> figures
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/prune.smk"
include: "workflow/rules/extract.smk"
include: "workflow/rules/dissect.smk"
include: "workflow/rules/similarity.smk"
include: "workflow/rules/mis.smk"
include: "workflow/rules/figures.smk"


rule all:
    input:
        PLAN.targets(),
    default_target: True
