"""The run's report: the report wing, joined to the training wing by the results table only.

The training jobs' tidy tables (columns as in hemlr.columns, one row per job x repeat x
iteration) are merged with their Snakemake benchmarks (:mod:`.tables`), read through one
vocabulary of jobs and numbers (:mod:`.jobs`), with warnings (:mod:`.flags`), sentences
(:mod:`.facts`) and figures (:mod:`.plots`), into one ordered list of sections
(:mod:`.sections`) that :mod:`.markdown` writes as summary.md and :mod:`.html` as report.html.

It imports nothing from the backends or the training code: only the standard library, numpy,
pandas, matplotlib, jinja2, hemlr.columns, hemlr.pricing and hemlr.stats
(tests/test_report_boundary.py checks it).
"""
