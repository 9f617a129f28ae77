"""Scoring backends behind one interface (:class:`~clave_lite.backends.base.Backend`)."""
