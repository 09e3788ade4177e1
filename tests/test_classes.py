import pytest

from tumorbench.classes import CLASS_NAMES, PROB_COLUMNS, canonical_class, class_index


@pytest.mark.parametrize("folder, expected", [
    ("glioma_tumor", "glioma"), ("glioma", "glioma"), ("Glioma Tumor", "glioma"),
    ("meningioma_tumor", "meningioma"), ("meningioma", "meningioma"),
    ("no_tumor", "no_tumor"), ("notumor", "no_tumor"), ("No-Tumour", "no_tumor"),
    ("pituitary_tumor", "pituitary"), ("PITUITARY", "pituitary"),
], ids=str)
def test_public_folder_names_map_onto_the_canonical_order(folder, expected):
    assert canonical_class(folder) == expected


@pytest.mark.parametrize("folder", ["cat", "tumor", "glioma_tumor_2", ""])
def test_unknown_names_are_not_guessed(folder):
    assert canonical_class(folder) is None


def test_order_is_the_seed_label_order_and_prob_columns_follow_it():
    assert CLASS_NAMES == ("glioma", "meningioma", "no_tumor", "pituitary")
    assert tuple(f"prob_{c}" for c in CLASS_NAMES) == PROB_COLUMNS
    assert [class_index(c) for c in CLASS_NAMES] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="valid classes: glioma, meningioma"):
        class_index("notumor")
