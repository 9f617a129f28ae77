"""Adaptation to a new value system from ~100 labelled tuples per value (``clave-lite adapt``).

A linear readout of the evaluator's hidden state, fitted and chosen by group folds over the
user's own labels; no training of the model itself (:mod:`clave_lite.adapt.job`)."""

from clave_lite.adapt.job import AdaptOptions, AdaptReport, Estimate, adapt

__all__ = ["AdaptOptions", "AdaptReport", "Estimate", "adapt"]
