"""Training throughput: the engine's estimators against the same networks trained by a plain
PyTorch loop and by a naive Flax NNX loop (``nnx.jit`` per step, batches from numpy).

Every loop trains with Adam, batch 128, on all cores, and after each epoch computes the
outputs on a 10% validation share (what early stopping needs); samples/s counts training
samples over the time of the measured epochs, after one warm-up epoch (compilation); the
three loops take turns, `settings.repeats` times, and each loop's best run is reported,
as ``timeit`` does: on a shared 2-core machine other work only ever slows a run down (the
same loop read 60k to 110k samples/s within one minute here), so the best run is the
closest to what the loop itself costs.
"""

from __future__ import annotations

import os
import time

import numpy as np

from benchmarks.data import dataset, standardised
from benchmarks.table import Row

BATCH = 128
SECTION = "1. Training throughput (samples/s, higher is better)"
# network: (dataset, engine parameters, measured epochs)
NETWORKS = {
    "MLP 64-256-256-10": ("digits", {"network": "mlp", "depth": 2, "width": 256}, 30),
    "CNN conv32-conv64 3x3, max-pool": ("digits", {"network": "cnn", "depth": 2, "width": 32,
                                                    "width_factor": 2.0}, 10),
    "GRU 64 on MNIST-1D": ("mnist1d", {"network": "rnn", "depth": 1, "width": 64}, 4),
}


def split(name: str, network: str):
    """Training and validation arrays (channels last), labels, as the engine would use."""
    data = dataset(name).train
    X = standardised(data.X)
    if network == "mlp":
        X = X.reshape(len(X), -1)
    n_val = round(0.1 * len(X))
    return X[n_val:], data.y[n_val:].astype(np.int64), X[:n_val]


def engine_estimator(params: dict, **training):
    """The engine's classifier for a `NETWORKS` entry's parameters: its network named by
    ``params["network"]``, with the rest of them, trained as `training` says."""
    from automl_plugins.deep.architectures import ARCHITECTURES
    from automl_plugins.deep.estimator import FlaxClassifier
    layers = {k: v for k, v in params.items() if k != "network"}
    return FlaxClassifier(ARCHITECTURES[params["network"]](**layers), **training)


def engine(name, params, epochs):
    X, y, _ = split(name, params["network"])
    options = dict(batch_size=BATCH, max_epochs=epochs, patience=epochs,
                   learning_rate=1e-3, validation_fraction=0.1, random_state=0)
    engine_estimator(params, **{**options, "max_epochs": 1}).fit(X, y)  # compiles
    return engine_estimator(params, **options).fit(X, y).samples_per_second_


def torch_loop(name, params, epochs):
    import torch
    from torch import nn
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    X, y, X_val = split(name, params["network"])
    if params["network"] == "mlp":
        model = nn.Sequential(nn.Linear(X.shape[1], 256), nn.ReLU(), nn.Linear(256, 256),
                              nn.ReLU(), nn.Linear(256, 10))
    elif params["network"] == "cnn":
        model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(2 * 2 * 64, 10))
        X, X_val = X.transpose(0, 3, 1, 2), X_val.transpose(0, 3, 1, 2)
    else:
        class GRU(nn.Module):
            def __init__(self):
                super().__init__()
                self.gru, self.out = nn.GRU(1, 64, batch_first=True), nn.Linear(64, 10)

            def forward(self, x):
                return self.out(self.gru(x)[0][:, -1])
        model = GRU()
    X, y, X_val = torch.from_numpy(X.copy()), torch.from_numpy(y), torch.from_numpy(X_val)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    loss_fn = nn.CrossEntropyLoss()
    steps = len(X) // BATCH

    def epoch():
        model.train()
        for batch in torch.randperm(len(X))[:steps * BATCH].view(steps, BATCH):
            optimizer.zero_grad()
            loss_fn(model(X[batch]), y[batch]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            model(X_val)

    epoch()
    start = time.perf_counter()
    for _ in range(epochs):
        epoch()
    return epochs * steps * BATCH / (time.perf_counter() - start)


def flax_loop(name, params, epochs):
    """The loop of Flax's NNX tutorials: a model object, ``nnx.Optimizer``, one
    ``nnx.jit`` call per step with the batch sliced in numpy."""
    import jax
    import optax
    from flax import nnx
    X, y, X_val = split(name, params["network"])
    rngs = nnx.Rngs(0)
    network = params["network"]

    class Model(nnx.Module):
        def __init__(self):
            if network == "mlp":
                self.layers = nnx.List([nnx.Linear(X.shape[1], 256, rngs=rngs),
                                        nnx.Linear(256, 256, rngs=rngs)])
                self.out = nnx.Linear(256, 10, rngs=rngs)
            elif network == "cnn":
                self.layers = nnx.List([nnx.Conv(1, 32, (3, 3), rngs=rngs),
                                        nnx.Conv(32, 64, (3, 3), rngs=rngs)])
                self.out = nnx.Linear(2 * 2 * 64, 10, rngs=rngs)
            else:
                self.rnn = nnx.RNN(nnx.GRUCell(1, 64, rngs=rngs))
                self.out = nnx.Linear(64, 10, rngs=rngs)

        def __call__(self, x):
            if network == "rnn":
                return self.out(self.rnn(x)[:, -1])
            for layer in self.layers:
                x = jax.nn.relu(layer(x))
                if network == "cnn":
                    x = nnx.max_pool(x, (2, 2), (2, 2))
            return self.out(x.reshape(len(x), -1))

    model = Model()
    optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)

    @nnx.jit
    def train_step(model, optimizer, xb, yb):
        def loss_fn(model):
            return optax.softmax_cross_entropy_with_integer_labels(model(xb), yb).mean()
        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    predict = nnx.jit(lambda model, x: model(x))
    order = np.random.default_rng(0)
    steps = len(X) // BATCH

    def epoch():
        for batch in order.permutation(len(X))[:steps * BATCH].reshape(steps, BATCH):
            loss = train_step(model, optimizer, X[batch], y[batch])
        float(loss)
        np.asarray(predict(model, X_val))

    epoch()
    start = time.perf_counter()
    for _ in range(epochs):
        epoch()
    return epochs * steps * BATCH / (time.perf_counter() - start)


LOOPS = {"engine (FlaxClassifier)": engine, "PyTorch loop": torch_loop,
         "naive Flax NNX loop": flax_loop}


def run(settings) -> list[Row]:
    rows = []
    loops = {tool: loop for tool, loop in LOOPS.items()
             if tool != "PyTorch loop" or torch_available()}
    for network, (name, params, epochs) in NETWORKS.items():
        values = {tool: [] for tool in loops}
        for _ in range(settings.repeats):  # in turns, so a slow moment hits every loop
            for tool, loop in loops.items():
                values[tool].append(loop(name, params, epochs))
        measured = {tool: max(v) for tool, v in values.items()}
        for tool, value in measured.items():
            rows.append(Row(SECTION, f"{network}, {name}", tool, value, "samples/s",
                            f"best of {len(values[tool])}: "
                            + ", ".join(f"{v:,.0f}" for v in values[tool])))
        if "PyTorch loop" in measured:
            ratio = measured["engine (FlaxClassifier)"] / measured["PyTorch loop"]
            rows.append(Row(SECTION, f"{network}, {name}", "engine / PyTorch", ratio, "x",
                            "target >= 1.3 for MLP and CNN"))
    return rows


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True
