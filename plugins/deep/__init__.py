"""Deep networks on JAX/Flax NNX as scikit-learn estimators (see `estimator`)."""
