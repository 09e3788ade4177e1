"""`hog_svm`: HOG features and an RBF-kernel SVM, the strongest cheap baseline on Sartaj's own test split.

The features are fixed tensor ops (`tumorbench.models.hog`); the SVM is fitted by scikit-learn
(libsvm, one-vs-one) on the training split and copied into buffers: support vectors, the dual
coefficients of every class pair and their intercepts. Its pairwise decision values become class
probabilities through a multinomial logistic layer fitted on out-of-fold decision values of the
training split (k-fold inside training: never validation or test), which is Platt scaling for
more than two classes. Forward therefore computes exactly libsvm's decision values, then logits.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from itertools import combinations

import numpy as np
import torch
from torch import nn

from tumorbench.data.preprocess import PreprocessSpec
from tumorbench.models._registry import register_model
from tumorbench.models.fitted import FittedModel, ResizingBuffers, check_fitted_balance
from tumorbench.models.hog import HOGFeatures

HOG_SVM_SPEC = PreprocessSpec(size=128, grayscale=True, normalize=True, standardize=False)


def rbf_gram(a: np.ndarray, b: np.ndarray, gamma: float) -> np.ndarray:
    """exp(-gamma * |a_i - b_j|^2) for every pair of rows, by BLAS."""
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.exp(-gamma * np.clip(d2, 0.0, None))


def scale_gamma(x: np.ndarray) -> float:
    """scikit-learn's gamma="scale": 1 / (n_features * variance of all values)."""
    return 1.0 / (x.shape[1] * x.var())


class KernelSVMHead(ResizingBuffers):
    """RBF-kernel one-vs-one SVM over feature vectors, then a linear layer from its pairwise decision
    values to class logits. Empty until `fit`."""

    def __init__(self, feature_dim: int, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        self.pairs = list(combinations(range(num_classes), 2))  # libsvm's order of the class pairs
        n_pairs = len(self.pairs)
        self.register_buffer("support", torch.zeros(0, feature_dim))
        self.register_buffer("support_sq", torch.zeros(0))  # squared norms of the support vectors
        self.register_buffer("dual", torch.zeros(0, n_pairs))  # (support vector, pair) coefficients
        self.register_buffer("intercept", torch.zeros(n_pairs))
        self.register_buffer("gamma", torch.zeros(()))
        self.register_buffer("calib_weight", torch.zeros(num_classes, n_pairs))
        self.register_buffer("calib_bias", torch.zeros(num_classes))

    @property
    def fitted(self) -> bool:
        return self.support.shape[0] > 0

    def decision(self, features: torch.Tensor) -> torch.Tensor:
        """libsvm's pairwise decision values (N, n_pairs); positive favours the pair's first class."""
        # In float32 whatever the autocast: squared distances by expansion lose everything in bf16.
        with torch.autocast(device_type=features.device.type, enabled=False):
            f = features.float()
            d2 = (f * f).sum(1, keepdim=True) + self.support_sq.unsqueeze(0) - 2.0 * (f @ self.support.T)
            kernel = torch.exp(-self.gamma * d2.clamp_min(0.0))
            return kernel @ self.dual + self.intercept

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if not self.fitted:
            raise RuntimeError("the SVM head is not fitted: fit it on training features (fit_batches), or load "
                               "a checkpoint of a trained hog_svm")
        return self.decision(features) @ self.calib_weight.T + self.calib_bias


    def fit(self, x: np.ndarray, y: np.ndarray, *, C: float, seed: int, folds: int = 5,
            class_weight: str | None = None) -> dict:
        """Fit the SVM on (x, y) and the probability layer on out-of-fold decision values."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_predict
        from sklearn.svm import SVC

        present = np.unique(y)
        if len(present) != self.num_classes:
            raise ValueError(f"fitting an SVM over {self.num_classes} classes needs examples of each; the "
                             f"training labels hold classes {present.tolist()} only")
        x = np.ascontiguousarray(x, dtype=np.float64)
        gamma = scale_gamma(x)
        t0 = time.perf_counter()
        # One Gram matrix (BLAS) serves the fit and every calibration fold: libsvm computing kernel rows
        # itself is several times slower at HOG's thousands of dimensions.
        gram = rbf_gram(x, x, gamma)

        def svc() -> SVC:
            return SVC(kernel="precomputed", C=C, decision_function_shape="ovo", class_weight=class_weight)

        model = svc().fit(gram, y)
        t_fit = time.perf_counter() - t0
        # Out-of-fold decision values: what the calibration sees must come from SVMs that did not see the
        # images, or the probabilities come out overconfident (the support vectors sit at the margins).
        k = int(min(folds, np.bincount(y).min()))
        if k >= 2:
            cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
            oof = cross_val_predict(svc(), gram, y, cv=cv, method="decision_function")
        else:  # too few images per class to hold any out: the fitted SVM's own values
            oof = model.decision_function(gram)
        calib = LogisticRegression(C=1.0, max_iter=2000).fit(oof, y)
        self._set(x[model.support_], model, calib, gamma)
        return {"support_vectors": int(model.support_.size), "svm_seconds": round(t_fit, 3),
                "calibration_folds": k, "calibration_seconds": round(time.perf_counter() - t0 - t_fit, 3)}

    def _set(self, sv: np.ndarray, model, calib, gamma: float) -> None:
        counts = np.asarray(model.n_support_)
        starts = np.concatenate([[0], np.cumsum(counts)])
        dual_coef = np.asarray(model.dual_coef_)  # (n_classes - 1, n_sv), libsvm's layout
        dual = np.zeros((sv.shape[0], len(self.pairs)))
        for p, (i, j) in enumerate(self.pairs):
            # Pair (i, j): class i's vectors carry their coefficient in row j-1, class j's in row i.
            dual[starts[i]:starts[i + 1], p] = dual_coef[j - 1, starts[i]:starts[i + 1]]
            dual[starts[j]:starts[j + 1], p] = dual_coef[i, starts[j]:starts[j + 1]]
        as_tensor = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
        self.support = as_tensor(sv)
        self.support_sq = as_tensor((sv * sv).sum(1))
        self.dual = as_tensor(dual)
        self.intercept = as_tensor(model.intercept_)
        self.gamma = as_tensor(gamma)
        self.calib_weight = as_tensor(calib.coef_)
        self.calib_bias = as_tensor(calib.intercept_)


class HogSVM(FittedModel):
    """Preprocessed images -> HOG -> RBF SVM -> class logits (softmax gives calibrated probabilities)."""

    def __init__(self, *, size: int, num_classes: int, orientations: int = 9, cell: int = 8, block: int = 2,
                 C: float = 10.0):
        super().__init__()
        self.hog = HOGFeatures(orientations=orientations, cell=cell, block=block)
        self.head = KernelSVMHead(self.hog.output_dim(size), num_classes)
        self.C = C

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Fixed float32 arithmetic whatever the autocast: bins and kernel distances are not bf16-safe.
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.head(self.hog(x.float()))

    @torch.inference_mode()
    def features(self, batches: Iterable[torch.Tensor]) -> np.ndarray:
        """HOG vectors of every image, in order."""
        return torch.cat([self.hog(b.float()).cpu() for b in batches]).numpy()

    def fit_batches(self, batches: Iterable[torch.Tensor], y: np.ndarray, *, seed: int,
                    balance: str = "none") -> dict:
        check_fitted_balance("hog_svm", balance)
        t0 = time.perf_counter()
        x = self.features(batches)
        stats = {"feature_seconds": round(time.perf_counter() - t0, 3), "feature_dim": int(x.shape[1])}
        stats.update(self.head.fit(x, np.asarray(y), C=self.C, seed=seed,
                                   class_weight="balanced" if balance == "class_weight" else None))
        return stats


@register_model(preprocess=HOG_SVM_SPEC, min_size=16, fitted=True,
                description="HOG (9 orientations, 8 px cells, 2x2 blocks, L2-Hys) + RBF-kernel SVM (C=10), "
                            "probabilities by out-of-fold multinomial Platt scaling; fitted, not trained by SGD")
def hog_svm(spec: PreprocessSpec, num_classes: int) -> nn.Module:
    return HogSVM(size=spec.size, num_classes=num_classes)
