"""Statistics, time curves and clustering of facial Action Units between groups (healthy vs depressed).

Run it with ``python scripts/analyze_aus.py --manifest M --out DIR``; the pieces are importable:

* :mod:`analysis.loading` -- manifest -> long frame table (valid frames only, normalised time);
* :mod:`analysis.expressivity` -- per-frame emotion expressivity (sums of AU intensities);
* :mod:`analysis.group_stats` -- subject-level group tests with BH correction, group mean curves;
* :mod:`analysis.clustering` -- PCA (95 % variance), K-means / Ward / GMM, silhouette and ARI;
* :mod:`analysis.plots`, :mod:`analysis.report`, :mod:`analysis.cli`.
"""
