"""meddl: from medical data to a trained, evaluated, explained and deployable deep-learning model.

The package imports nothing heavy at start-up so that `meddl --help` stays fast; the verbs load what they need.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    if name in ("train", "evaluate", "predict"):
        from meddl import api

        return getattr(api, name)
    raise AttributeError(f"module 'meddl' has no attribute {name!r}")
