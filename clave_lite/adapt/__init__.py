"""Adaptation to a new value system from ~100 labelled tuples per value (``clave-lite adapt``).

Linear readouts of the evaluator's hidden state, fitted on the user's own labels and estimated
by group folds over them; no training of the model itself (:mod:`clave_lite.adapt.job`)."""

from clave_lite.adapt.job import AdaptReport, Estimate, adapt
from clave_lite.adapt.options import AdaptOptions

__all__ = ["AdaptOptions", "AdaptReport", "Estimate", "adapt"]
