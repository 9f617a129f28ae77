"""The jobs behind the commands: options in, a typed report out (score, filter, serve), with the
run ledger, the policy and the output writers they share. They run the engine of
:mod:`clave_lite.runtime` on the evaluator :mod:`clave_lite.build.loading` gives them."""
