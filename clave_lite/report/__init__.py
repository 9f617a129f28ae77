"""Pictures of scores: value profiles of score files (``clave-lite report``) and the eval page
(``eval --report``). The ``report`` extra (matplotlib, Jinja2); nothing else imports it.

``profile`` computes (numpy only), ``figures`` draws the PNGs, ``page`` writes the HTML, and
``job`` is the one call each command makes.
"""
