"""Measuring evaluators: metrics with intervals, eval runs, comparisons, injection attacks, benchmarks, baselines, threshold tuning."""
