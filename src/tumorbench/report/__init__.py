"""The benchmark report: figures, ranking, recommendation and the HTML/Markdown report.

    from tumorbench.report import build_report, evaluate_files
    build_report(Path("runs/2024-05-01"))
    # -> PosixPath('runs/2024-05-01/report.html')
"""

# Computed in tumorbench.evaluation; re-exported here, where notebooks have always found them.
from tumorbench.evaluation.files import default_name
from tumorbench.evaluation.history import TrainingCurves, training_curves
from tumorbench.evaluation.model_result import ModelResult, evaluate_model
from tumorbench.evaluation.recommend import Recommendation, rank_models, recommend
from tumorbench.report.build import (
    Section,
    build_report,
    evaluate_files,
    write_report,
)
from tumorbench.report.figures_plotly import (
    accuracy_figure,
    confusion_matrix_figure,
    history_figure,
    metrics_by_model_figure,
    pr_figure,
    reliability_figure,
    roc_figure,
)
from tumorbench.report.figures_static import (
    plot_accuracy,
    plot_confusion_matrix,
    plot_history,
    plot_metrics_by_model,
    plot_pr,
    plot_reliability,
    plot_roc,
)

__all__ = [
    "ModelResult",
    "Recommendation",
    "Section",
    "TrainingCurves",
    "accuracy_figure",
    "build_report",
    "confusion_matrix_figure",
    "default_name",
    "evaluate_files",
    "evaluate_model",
    "history_figure",
    "metrics_by_model_figure",
    "pr_figure",
    "plot_accuracy",
    "plot_confusion_matrix",
    "plot_history",
    "plot_metrics_by_model",
    "plot_pr",
    "plot_reliability",
    "plot_roc",
    "rank_models",
    "recommend",
    "reliability_figure",
    "roc_figure",
    "training_curves",
    "write_report",
]
