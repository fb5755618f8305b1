"""How unlike the training fields a field looks to the network: a feature-space distance.

A softmax is confident far from its training data (a tinted blank, another stain, a blurred
field can all be called at 99%), so confidence alone cannot say "this is not what I know".
The network's pooled features can: each class's training fields form a cloud there, and a
field far from every cloud is unlike anything the model learned from (Lee et al. 2018, a
Mahalanobis distance with a covariance shared by the classes).

The covariance is estimated from about two thousand fields in 1280 dimensions, so it is kept
in a compact, stable form: its top ``COMPONENTS`` principal directions with their own variances,
and the remaining directions pooled into one average variance (probabilistic PCA). The distance
is the minimum over classes of the squared Mahalanobis distance, divided by the feature
dimension so that it reads about 1 for a typical field.

Fitted at export on the training fields, its flag threshold set on held-out validation fields
(at most ``FLAGGED_QUANTILE``'s complement of real fields flagged), and stored in the model dir
(``feature_density.npz``, sha256-checked like the weights). Pure numpy: the clinic build runs it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FILENAME = "feature_density.npz"
COMPONENTS = 128
# The threshold is this quantile of the held-out fields' distances: about 1.5% of real fields
# captured like the training data are flagged.
FLAGGED_QUANTILE = 0.985


@dataclass(frozen=True)
class FeatureDensity:
    means: np.ndarray        # (K, D) class means of the pooled features
    components: np.ndarray   # (D, C) principal directions of the within-class scatter
    variances: np.ndarray    # (C,) their variances
    residual_variance: float  # the average variance of every other direction

    def distances(self, pooled: np.ndarray) -> np.ndarray:
        """(N, D) pooled features -> (N,) distance to the nearest class, ~1 when typical."""
        pooled = np.asarray(pooled, np.float64)
        # Per class only (N, C) arithmetic: the projections of the fields and of the class means
        # come from one product each, and |x - m|^2 from |x|^2 - 2 x.m + |m|^2. (The direct form
        # did (N, D) arithmetic for every class: 5-7 ms a field on a busy machine.)
        proj_fields = pooled @ self.components                       # (N, C)
        cross = pooled @ self.means.T                                 # (N, K)
        squares = np.einsum("nd,nd->n", pooled, pooled)
        best = None
        for k, (mean_proj, mean_square) in enumerate(zip(self._mean_projections,
                                                          self._mean_squares)):
            proj = proj_fields - mean_proj
            proj_square = proj * proj
            inside = (proj_square / self.variances).sum(axis=1)
            rest = squares - 2.0 * cross[:, k] + mean_square - proj_square.sum(axis=1)
            d = inside + np.maximum(rest, 0.0) / self.residual_variance
            best = d if best is None else np.minimum(best, d)
        return best / pooled.shape[1]

    @functools.cached_property
    def _mean_projections(self) -> np.ndarray:
        return self.means @ self.components                           # (K, C)

    @functools.cached_property
    def _mean_squares(self) -> np.ndarray:
        return np.einsum("kd,kd->k", self.means, self.means)

    def save(self, path: Path) -> None:
        with open(path, "wb") as handle:
            np.savez(handle, means=self.means.astype(np.float32),
                     components=self.components.astype(np.float32),
                     variances=self.variances.astype(np.float64),
                     residual_variance=np.array([self.residual_variance]))

    @classmethod
    def load(cls, path: Path) -> "FeatureDensity":
        with np.load(path, allow_pickle=False) as data:
            return cls(np.ascontiguousarray(data["means"], np.float64),
                       np.ascontiguousarray(data["components"], np.float64),
                       data["variances"], float(data["residual_variance"][0]))


def pool(feature_maps: np.ndarray) -> np.ndarray:
    """(N, D, h, w) feature maps -> (N, D) global average (what the classifier head reads)."""
    return np.asarray(feature_maps, np.float32).mean(axis=(2, 3))


def fit(pooled: np.ndarray, labels: np.ndarray, components: int = COMPONENTS) -> FeatureDensity:
    """Class means and the shared within-class covariance of training features."""
    pooled = np.asarray(pooled, np.float64)
    classes = np.unique(labels)
    means = np.stack([pooled[labels == k].mean(axis=0) for k in classes])
    centred = pooled - means[np.searchsorted(classes, labels)]
    cov = centred.T @ centred / max(1, len(pooled) - len(classes))
    eigval, eigvec = np.linalg.eigh(cov)
    order = np.argsort(eigval)[::-1]
    eigval, eigvec = eigval[order], eigvec[:, order]
    c = min(components, len(eigval) - 1)
    floor = max(float(eigval[0]) * 1e-6, 1e-8)
    residual = max(float(eigval[c:].mean()), floor)
    return FeatureDensity(means, eigvec[:, :c], np.maximum(eigval[:c], floor), residual)
