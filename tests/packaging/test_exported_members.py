"""The public names of ``clave_lite`` are pinned: adding or removing one is a deliberate change
to this list (as httpx's tests/test_exported_members.py does), and each resolves."""

import clave_lite

PUBLIC = [
    "LABELS", "__version__",
    "ClaveError", "DataError", "ValueSystemError", "ModelError", "UsageError", "UnknownNameError", "LLMError",
    "MissingDependencyError", "QualityGateError",
    "Evaluator", "load_evaluator", "load_system",
    "ScoreOptions", "score_file", "FilterOptions", "filter_texts", "load_policy",
    "EvalOptions", "evaluate_file", "AdaptOptions", "adapt", "ReportOptions", "build_report",
]


def test_all_is_pinned():
    assert clave_lite.__all__ == PUBLIC


def test_every_public_name_resolves():
    for name in clave_lite.__all__:
        assert getattr(clave_lite, name) is not None, name


def test_the_version_lives_in_its_own_module():
    from clave_lite.version import __version__

    assert clave_lite.__version__ == __version__


def test_the_package_is_typed():
    from importlib import resources

    assert (resources.files("clave_lite") / "py.typed").is_file()
