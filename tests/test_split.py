import random
from collections import Counter

import pytest

from tumorbench.data.folder import ImageRecord
from tumorbench.data.split import read_split_list, stratified_split, write_split_list


def _records(counts):
    return [ImageRecord(f"Training/{c}/{c}_{i}.png", c) for c, n in counts.items() for i in range(n)]


COUNTS = {"glioma": 100, "meningioma": 80, "no_tumor": 40, "pituitary": 60}


def test_split_is_stratified_and_20_percent():
    train, val = stratified_split(_records(COUNTS), fraction=0.2, seed=0)
    assert len(val) == 56 and len(train) == 224
    got = Counter(r.label for r in val)
    for cls, n in COUNTS.items():
        assert abs(got[cls] - 0.2 * n) <= 1, (cls, got)
    assert not {r.path for r in train} & {r.path for r in val}


def test_same_seed_same_split_whatever_the_listing_order():
    recs = _records(COUNTS)
    shuffled = recs[:]
    random.Random(1).shuffle(shuffled)
    assert stratified_split(recs, fraction=0.2, seed=3) == stratified_split(shuffled, fraction=0.2, seed=3)
    assert stratified_split(recs, fraction=0.2, seed=3)[1] != stratified_split(recs, fraction=0.2, seed=4)[1]


def test_split_refuses_tiny_classes_and_bad_fractions():
    with pytest.raises(ValueError, match="fewer than 2 training images"):
        stratified_split(_records({"glioma": 10, "pituitary": 1}), fraction=0.2, seed=0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        stratified_split(_records(COUNTS), fraction=1.5, seed=0)


def test_split_list_round_trips_with_odd_names(tmp_path):
    recs = [ImageRecord("Training/glioma_tumor/gg (1).jpg", "glioma"), ImageRecord("Testing/x, y.png", None)]
    write_split_list(tmp_path / "s.csv", recs)
    assert read_split_list(tmp_path / "s.csv") == recs
