"""Whole-abstract batches for passage-sequence models: an abstract's passages stay together and in order, rows come
back to the split's order however documents are shuffled, and the position features are the documented ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from meddl.data import batching as sd
from meddl.data.types import DatasetInfo, TextSplits
from meddl.errors import DataError

# Documents interleaved on purpose: "b" starts before "a" ends, so grouping cannot rely on contiguous rows.
GROUPS = ["a", "a", "b", "a", "c", "b", "c", "c", "d"]


def dataset(groups=GROUPS, positions=None) -> sd.DocumentDataset:
    tokens = [torch.tensor([row + 1] * (1 + row % 3)) for row in range(len(groups))]  # row r holds token r + 1
    positions = sd.passage_positions(splits(groups), "train") if positions is None else positions
    return sd.DocumentDataset(tokens, np.arange(len(groups)) % 5, 0, groups, positions)


def splits(groups, positions=None) -> TextSplits:
    info = DatasetInfo(name="t", task="multi-class", n_channels=1, labels=tuple("ABCDE"), splits={}, license="-",
                       kind="text")
    return TextSplits(info=info, labels={"train": np.zeros(len(groups), np.int64)}, groups={"train": list(groups)},
                      texts={"train": ["x"] * len(groups)}, positions=positions or {})


def test_positions_fall_back_to_the_order_of_groups():
    positions = sd.passage_positions(splits(GROUPS), "train")
    assert positions.tolist() == [[0, 3], [1, 3], [0, 2], [2, 3], [0, 3], [1, 2], [1, 3], [2, 3], [0, 1]]
    known = np.array([[i, 9] for i in range(len(GROUPS))])
    assert sd.passage_positions(splits(GROUPS, {"train": known}), "train").tolist() == known.tolist()


def test_position_features_are_relative_place_and_edge_flags():
    features = sd.position_features(np.array([[0, 4], [1, 4], [2, 4], [3, 4], [0, 1]]))
    assert features.shape == (5, len(sd.POSITION_FEATURES)) and features.dtype == np.float32
    np.testing.assert_allclose(features[:, 0], [0, 1 / 3, 2 / 3, 1, 0])
    assert features[:, 1:].tolist() == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0], [1, 0, 1, 0]]
    with pytest.raises(DataError, match="index < count"):
        sd.position_features(np.array([[3, 3]]))


def test_a_batch_holds_whole_documents_in_order():
    data = dataset()
    assert len(data) == 4
    batch = data.__getitems__([2, 0])  # documents c then a
    assert batch["rows"].tolist() == [4, 6, 7, 0, 1, 3]
    assert batch["documents"].tolist() == [0, 0, 0, 1, 1, 1]
    assert batch["tokens"][:, 0].tolist() == [row + 1 for row in batch["rows"].tolist()]
    assert batch["labels"].tolist() == [row % 5 for row in batch["rows"].tolist()]
    assert batch["positions"][:, 0].tolist() == pytest.approx([0, 0.5, 1, 0, 0.5, 1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shuffled_batches_never_split_a_document_and_cover_every_row_once(seed):
    loader = sd.loader(dataset(), batch_size=2, shuffle=True, seed=seed)
    rows = []
    for batch in loader:
        for document in batch["documents"].unique():
            members = batch["rows"][batch["documents"] == document].tolist()
            group = GROUPS[members[0]]
            assert members == [r for r, g in enumerate(GROUPS) if g == group]  # all of it, in order
        rows += batch["rows"].tolist()
    assert sorted(rows) == list(range(len(GROUPS)))


def test_mismatched_lengths_are_data_errors():
    with pytest.raises(DataError, match="9 passages but 8 groups and 9 positions"):
        sd.DocumentDataset([torch.tensor([1])] * 9, np.zeros(9), 0, GROUPS[:8], np.zeros((9, 2), np.int64))
