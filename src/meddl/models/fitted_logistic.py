"""A scikit-learn logistic regression fitted on standardised features, returned on the raw features' scale.

The rhythm gate (ECG) fits one before the network trains and then applies it
as a fixed linear layer inside the model, on the features as the model computes them; standardising helps the
solver, and folding the mean and scale into the coefficients keeps the layer a plain `x @ coef.T + intercept`.
"""

from __future__ import annotations

import numpy as np


def standardised(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z, mean, scale) with z = (x - mean) / scale; constant columns keep scale 1."""
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    return (x - mean) / scale, mean, scale


def fit_logistic_on_raw_scale(x: np.ndarray, y: np.ndarray, **options):
    """(model, coef, intercept): `LogisticRegression(**options)` fitted on standardised `x`, and its coefficients
    (classes_ rows, or one row for two classes, as scikit-learn gives them) and intercepts for raw `x`."""
    from sklearn.linear_model import LogisticRegression

    z, mean, scale = standardised(x)
    model = LogisticRegression(max_iter=5000, **options).fit(z, y)
    coef = model.coef_ / scale
    return model, coef, model.intercept_ - coef @ mean
