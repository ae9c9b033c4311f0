"""meddl: from medical data to a trained, evaluated, explained and deployable deep-learning model.

The package imports nothing heavy at start-up so that `meddl --help` stays fast; the verbs load what they need.
"""

__version__ = "0.1.0"

# All verbs live in meddl.api; these are also reachable as meddl.<verb>. `explain` and `serve` are not, because
# meddl.explain and meddl.serve are the packages that implement them: use meddl.api.explain / meddl.api.serve.
VERBS = ("train", "evaluate", "predict", "generate", "export", "deid")


def __getattr__(name: str):
    if name in VERBS:
        from meddl import api

        return getattr(api, name)
    raise AttributeError(f"module 'meddl' has no attribute {name!r}")
