"""Engineered features, to ask whether deep families win by learning their own.

Each input kind gets PCA (on standardised, flattened inputs) and, for images and
sequences, a hand-crafted descriptor: histograms of gradient orientations per cell for
images (as in HOG), summary statistics and Fourier magnitudes for sequences. Transforms
are fitted on the training split only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

ORIENTATION_BINS = 8
FOURIER_TERMS = 8


def representations(X_train: np.ndarray, X_test: np.ndarray,
                    descriptors: Mapping[str, Callable[[np.ndarray], np.ndarray]],
                    seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Engineered (train, test) feature matrices by name: PCA, and the input kind's
    `descriptors` (`automl.data.input_kinds.InputKind`)."""
    flat_train, flat_test = X_train.reshape(len(X_train), -1), X_test.reshape(len(X_test), -1)
    scaler = StandardScaler().fit(flat_train)
    components = min(32, flat_train.shape[1], len(flat_train))
    pca = PCA(n_components=components, random_state=seed).fit(scaler.transform(flat_train))
    found = {f"pca_{components}": (pca.transform(scaler.transform(flat_train)),
                                   pca.transform(scaler.transform(flat_test)))}
    for name, describe in descriptors.items():
        found[name] = (describe(X_train), describe(X_test))
    return found


def gradient_histograms(images: np.ndarray) -> np.ndarray:
    """Per cell of a 4x4 grid: a histogram of gradient orientations weighted by gradient
    magnitude (L2-normalised per image), and the cell's mean intensity."""
    grey = images.mean(axis=-1)
    n, height, width = grey.shape
    cell_h, cell_w = max(1, height // 4), max(1, width // 4)
    grey = grey[:, :height // cell_h * cell_h, :width // cell_w * cell_w]
    gy, gx = np.gradient(grey, axis=(1, 2))
    magnitude = np.hypot(gx, gy)
    angle = np.mod(np.arctan2(gy, gx), np.pi)  # unsigned orientation
    bins = np.minimum((angle / np.pi * ORIENTATION_BINS).astype(int), ORIENTATION_BINS - 1)
    weighted = np.eye(ORIENTATION_BINS)[bins] * magnitude[..., None]
    rows, columns = grey.shape[1] // cell_h, grey.shape[2] // cell_w
    histograms = weighted.reshape(n, rows, cell_h, columns, cell_w, ORIENTATION_BINS) \
        .sum(axis=(2, 4)).reshape(n, -1)
    histograms /= np.linalg.norm(histograms, axis=1, keepdims=True) + 1e-9
    means = grey.reshape(n, rows, cell_h, columns, cell_w).mean(axis=(2, 4)).reshape(n, -1)
    return np.hstack([histograms, means]).astype(np.float32)


def summary_statistics(sequences: np.ndarray) -> np.ndarray:
    """Per channel: mean, spread, extremes and where they are, quartiles, mean absolute
    step, and the magnitudes of the first Fourier terms."""
    x = np.swapaxes(sequences, 1, 2)  # (n, channels, length)
    length = x.shape[-1]
    parts = [x.mean(-1), x.std(-1), x.min(-1), x.max(-1), x.argmin(-1) / length,
             x.argmax(-1) / length, *np.percentile(x, [25, 50, 75], axis=-1),
             np.abs(np.diff(x, axis=-1)).mean(-1)]
    fourier = np.abs(np.fft.rfft(x, axis=-1))[..., 1:FOURIER_TERMS + 1]
    stacked = np.concatenate([np.stack(parts, axis=-1), fourier], axis=-1)
    return stacked.reshape(len(sequences), -1).astype(np.float32)
