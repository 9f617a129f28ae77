"""Engines past one machine: adapters that run the one scoring core
(:mod:`clave_lite.jobs.batch_scoring`) on a distributed dataset engine. Ray Data
(``clave-lite[ray]``) is the one shipped; docs/scaling.md says why and how to run it.
"""
