"""Statistics, time curves and clustering of facial Action Units between groups (healthy vs depressed).

Run it with ``python scripts/analyze_aus.py --manifest M --out DIR``; the pieces are importable:

* :mod:`facedep.analysis.loading` -- manifest -> long frame table (valid frames only, normalised time);
* :mod:`facedep.analysis.expressivity` -- per-frame emotion expressivity (sums of AU intensities);
* :mod:`facedep.analysis.group_stats` -- subject-level group tests with BH correction, group mean curves;
* :mod:`facedep.analysis.clustering` -- PCA (95 % variance), K-means / Ward / GMM, silhouette and ARI;
* :mod:`facedep.analysis.plots`, :mod:`facedep.analysis.report`, :mod:`facedep.analysis.cli`.
"""
