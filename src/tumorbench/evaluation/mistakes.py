"""The images a model gets wrong most confidently: the first place to look for label noise or a shortcut."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tumorbench.predictions.io import frame_classes, prob_columns


def confident_mistakes(frame: pd.DataFrame, *, k: int = 5) -> pd.DataFrame:
    """Up to `k` misclassified images, most confident first: columns image, label, predicted, confidence."""
    labelled = frame[frame["label"].astype(str) != ""]
    probs = labelled.loc[:, prob_columns(frame)].to_numpy(dtype=np.float64)
    predicted = np.asarray(frame_classes(frame))[probs.argmax(axis=1)]
    table = pd.DataFrame(
        {
            "image": labelled["image"].to_numpy(),
            "label": labelled["label"].to_numpy(),
            "predicted": predicted,
            "confidence": probs.max(axis=1),
        }
    )
    wrong = table[table["label"] != table["predicted"]]
    # A stable sort keeps ties in file order, so the list does not change between report rebuilds.
    return wrong.sort_values("confidence", ascending=False, kind="stable").head(k).reset_index(drop=True)
