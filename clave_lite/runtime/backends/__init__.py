"""Scoring backends behind one interface (:class:`~clave_lite.runtime.backends.base.Backend`)."""
