"""tumorbench from Python: the CLI's commands as functions returning result objects.

    import tumorbench as tb
    result = tb.evaluate({"cnn": "cnn.csv", "vgg": "vgg.csv"}, out="compare")
    result                  # in Jupyter: a summary table with intervals and the recommendation
    result.metrics          # one row per model (= metrics.csv)
    result.figures["cnn/roc"].show()
"""

from tumorbench._lazy import lazy_exports

_EXPORTS = {
    "run": "commands",
    "study_imbalance": "commands",
    "evaluate": "commands",
    "report": "commands",
    "audit": "dataset_commands",
    "predict": "dataset_commands",
    "score_external": "dataset_commands",
    "BenchmarkResult": "results",
    "RunResult": "results",
    "EvaluationResult": "results",
    "AuditResult": "audit_result",
    "PredictionResult": "prediction_result",
    "TumorbenchError": "errors",
    "InvalidInputError": "errors",
    "InputNotFoundError": "errors",
    "InputReadError": "errors",
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
