"""What `tb.audit` returns: a dataset audit (audit.json's content) with its tables as DataFrames, its
figure, and the summary `tumorbench audit` prints."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from tumorbench.api._html import render
from tumorbench.runfolder import AUDIT_HTML

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go


class AuditResult:
    """A dataset audit (`tb.audit`): audit.json's content, with its tables as DataFrames."""

    def __init__(self, audit: dict, folder: Path, cross: dict | None = None):
        self.audit = audit  # the content of audit.json
        self.folder = Path(folder)
        self.cross = cross  # the content of cross_audit.json (`against=`), else None

    def __repr__(self) -> str:
        against = f" against {self.cross['b']['root']}" if self.cross else ""
        return f"<AuditResult of {self.audit.get('root', '?')}{against}: {self.audit['n_images']} images>"

    @property
    def report_path(self) -> Path:
        return self.folder / AUDIT_HTML

    @property
    def summary(self) -> str:
        """The few lines `tumorbench audit` prints."""
        from tumorbench.audit import audit_summary, cross_summary

        text = audit_summary(self.audit)
        return text if self.cross is None else f"{text}\n{cross_summary(self.cross)}"

    @cached_property
    def copies(self) -> pd.DataFrame:
        """With `against=`: one row per image of the other dataset (path, split, label, kind of its copy
        in this one or None, labels 'agree'/'conflict'/'unknown', number of copies, closest copy)."""
        import pandas as pd

        if self.cross is None:
            raise ValueError("no cross-dataset audit: call tb.audit(data, against=OTHER_DATASET)")
        return pd.DataFrame([{"path": e["path"], "split": e["split"], "label": e["label"], "kind": e["kind"],
                              "labels": e["labels"], "n_copies": len(e["matches"]),
                              "copy": e["matches"][0]["path"] if e["matches"] else None,
                              "copy_split": e["matches"][0]["split"] if e["matches"] else None,
                              "copy_label": e["matches"][0]["label"] if e["matches"] else None,
                              "error": e["error"]} for e in self.cross["images"]])

    @cached_property
    def class_counts(self) -> pd.DataFrame:
        """Images per split (rows) and class (columns)."""
        import pandas as pd

        return pd.DataFrame(self.audit["class_counts"]).T.fillna(0).astype(int)

    @cached_property
    def test_duplicates(self) -> pd.DataFrame:
        """Test images with an exact or near duplicate in training or validation."""
        import pandas as pd

        return pd.DataFrame(self.audit["test_duplicates"])

    @cached_property
    def label_conflicts(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.audit["label_conflicts"])

    @property
    def shortcut(self) -> dict:
        """The shortcut check: accuracy from file properties alone against the majority class."""
        return self.audit["shortcut"]

    @cached_property
    def figures(self) -> dict[str, go.Figure]:
        """"class_counts": images per class and split, as a grouped bar chart."""
        import plotly.express as px

        counts = self.class_counts.rename_axis("split").reset_index().melt("split", var_name="class",
                                                                            value_name="images")
        figure = px.bar(counts, x="class", y="images", color="split", barmode="group", template="plotly_white",
                        title="Images per class and split")
        return {"class_counts": figure}

    def save(self, folder: str | Path) -> Path:
        """Write audit.json, audit.html and audit.md into `folder`; returns audit.html."""
        from tumorbench.audit import write_audit

        return write_audit(self.audit, Path(folder), cross=self.cross)

    def _repr_html_(self) -> str:
        return render("audit", summary=self.summary.splitlines(), counts=self.class_counts, report=self.report_path)
