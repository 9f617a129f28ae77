"""The public names of ``clave_lite`` are pinned: adding or removing one is a deliberate change
to this list (as httpx's tests/test_exported_members.py does), and each resolves."""

import clave_lite

PUBLIC = [
    "LABELS", "__version__",
    "ClaveError", "DataError", "ValueSystemError", "ModelError", "UsageError", "UnknownNameError", "LLMError",
    "MissingDependencyError", "QualityGateError",
    "Evaluator", "load_evaluator", "load_system",
    "ScoreOptions", "score_file", "FilterOptions", "filter_texts", "load_policy",
    "EvalOptions", "evaluate_file", "AdaptOptions", "adapt_evaluator", "adapt_lora", "ReportOptions", "build_report",
    "ConvertOptions", "convert_file", "SplitOptions", "split_file",
]


def test_all_is_pinned():
    assert clave_lite.__all__ == PUBLIC


def test_every_public_name_resolves():
    import importlib.util

    for name in clave_lite.__all__:
        if name == "adapt_lora" and importlib.util.find_spec("torch") is None:
            continue  # the bake extra
        assert getattr(clave_lite, name) is not None, name


def test_adapt_refuses_the_lora_options_instead_of_ignoring_them(tmp_path):
    import pytest

    from clave_lite import AdaptOptions, UsageError, adapt_evaluator

    opts = AdaptOptions(system="schwartz10", labels=tmp_path / "l.jsonl", output=tmp_path / "o.gguf", train_epochs=3)
    with pytest.raises(UsageError, match="adapt_lora"):
        adapt_evaluator(opts)


def test_the_version_lives_in_its_own_module():
    from clave_lite.version import __version__

    assert clave_lite.__version__ == __version__


def test_the_package_is_typed():
    from importlib import resources

    assert (resources.files("clave_lite") / "py.typed").is_file()
