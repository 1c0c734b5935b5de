"""Evaluation: metrics, protocols, results, paired comparisons, significance and reports.

One home per concept (import from these modules; this package imports nothing itself):

- ``metrics``: pure per-list metric functions (hit, recall, ndcg, ..., coverage, novelty).
- ``protocol``: ``evaluate(model, test, *, train, ...)``, full and sampled ranking.
- ``sampling``: the negatives of sampled ranking.
- ``results``: ``EvalResult`` / ``ScenarioResult``, user groups, summaries, strict-JSON data.
- ``compare``: ``compare_results`` and ``compare_models``, paired comparisons of models.
- ``significance``: bootstrap intervals and paired tests.
- ``report``: ``write_report``, markdown tables and figures from result data.
"""
