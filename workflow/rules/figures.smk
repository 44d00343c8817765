# One rule and one output (per format) per paper figure, so a single figure can be rebuilt alone:
#   snakemake --cores 2 fb_fig2        (or the file: results/figures/fb_fig2.png)
# Each figure reads one tidy table (Contract 3) and its own `figures.<name>` config section only.

FIGURE_TABLES = {
    "fb_fig1": ("accuracy", f"{RESULTS}/frankle_bau/tables/accuracy.csv"),
    "fb_fig2": ("summary", f"{RESULTS}/frankle_bau/tables/dissection_summary.csv"),
    "fb_fig3": ("summary", f"{RESULTS}/frankle_bau/tables/dissection_summary.csv"),
    "fb_fig4": ("units", f"{RESULTS}/frankle_bau/tables/dissection_units.csv"),
}

for _fig, (_key, _table) in FIGURE_TABLES.items():

    rule:
        name:
            _fig
        input:
            **{_key: _table},
        output:
            report(
                figure_files(_fig),
                caption=f"../report/{_fig}.rst",
                category="Frankle & Bau 2019",
            ),
        params:
            name=_fig,
            figure=canonical(config["figures"][_fig]),
            dpi=config["figures"]["dpi"],
        log:
            f"logs/figures/{_fig}.log",
        conda:
            ENV
        script:
            "../scripts/figure.py"
