"""Where samples come from: one registry of datasets, one module per source."""

from meddl.data.registry import (
    dataset_info,
    get_dataset,
    list_datasets,
    load_dataset,
    register_dataset,
)
from meddl.data.types import DatasetInfo, ImageSplits, SignalSplits, TextSplits

__all__ = [
    "DatasetInfo",
    "ImageSplits",
    "SignalSplits",
    "TextSplits",
    "dataset_info",
    "get_dataset",
    "list_datasets",
    "load_dataset",
    "register_dataset",
]
