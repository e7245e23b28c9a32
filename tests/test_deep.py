"""The deep families (MLP, CNN, RNN on Flax NNX) on tiny data: shapes, determinism,
per-epoch reports for pruning, divergence, populations trained together, and data
parallelism over two devices."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optuna
import pytest
from automl_plugins.deep.architectures import CNN, MLP, RNN, split_params
from automl_plugins.deep.estimator import FlaxClassifier, FlaxRegressor, fit_population
from automl_plugins.deep.training import PROGRAMS
from automl_plugins.flax_models import FAMILIES
from optuna.trial import TrialState
from sklearn.datasets import load_digits

from automl.data.datasets import RawData, prepare_dataset
from automl.fitting.evaluate import texts_truncated
from automl.search import SearchSettings, finished_trials, open_study, search_family
from automl.search.storage import open_storage

FAST = dict(max_epochs=3, batch_size=16, random_state=0, device="cpu")
ARCHITECTURES = {"mlp": MLP, "cnn": CNN, "rnn": RNN}


def small(network: str, **settings) -> FlaxClassifier:
    """A small, short `FlaxClassifier` (`FAST`, 8 wide): the architecture's own settings
    to its network, the rest to the trainer."""
    layers, training = split_params({"width": 8, **settings}, ARCHITECTURES[network])
    return FlaxClassifier(ARCHITECTURES[network](**layers), **{**FAST, **training})


def tiny(kind: str, n: int = 64, seed: int = 0):
    """Learnable tiny data: the class decides the sign of a bump in the signal."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    shape = {"tabular": (5,), "image": (6, 6, 1), "sequence": (12, 2)}[kind]
    X = rng.normal(size=(n, *shape)).astype(np.float32) * 0.3
    X.reshape(n, -1)[:, 0] += y
    return X, y


@pytest.mark.parametrize("network,kind", [("mlp", "tabular"), ("mlp", "image"),
                                          ("cnn", "image"), ("cnn", "sequence"),
                                          ("rnn", "sequence")])
def test_each_network_fits_predicts_and_reports_its_costs(network, kind):
    X, y = tiny(kind)
    model = small(network, depth=2).fit(X, y)
    proba = model.predict_proba(X)
    assert proba.shape == (64, 3) and np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert set(model.predict(X)) <= {0, 1, 2}
    assert model.n_params_ > 0 and model.compile_seconds_ > 0
    assert model.train_seconds_ > 0 and model.samples_per_second_ > 0
    assert model.device_ == "cpu x1" and 1 <= model.n_epochs_ <= 3
    # no window on these inputs: no count of texts cut (the report says nothing of it)
    assert np.isnan(texts_truncated(model, X))


def test_the_same_seed_gives_the_same_predictions():
    X, y = tiny("image")
    a = small("cnn", batch_norm=True, dropout=0.2, augment=True)
    b = small("cnn", batch_norm=True, dropout=0.2, augment=True)
    assert np.array_equal(a.fit(X, y).predict_proba(X), b.fit(X, y).predict_proba(X))
    c = small("cnn", batch_norm=True, dropout=0.2, augment=True, random_state=1)
    assert not np.array_equal(a.predict_proba(X), c.fit(X, y).predict_proba(X))


def test_trials_of_one_architecture_reuse_the_compiled_step():
    X, y = tiny("tabular")
    small("mlp", depth=3, learning_rate=1e-3, dropout=0.1).fit(X, y)
    again = small("mlp", depth=3, learning_rate=1e-2, dropout=0.3, weight_decay=1e-3).fit(X, y)
    assert again.programs_reused_ >= 1 and again.fresh_compile_seconds_ == 0.0
    assert again.compile_seconds_ > 0  # the cost is still reported


def test_data_sizes_in_one_bucket_share_the_compiled_step():
    """Learning-curve subsets and refits pad data to a power of two of rows and pass the
    step count as a traced number, so they do not compile again."""
    X, y = tiny("tabular", n=300)
    small("mlp", depth=2).fit(X[:200], y[:200])
    smaller = small("mlp", depth=2).fit(X[:170], y[:170])
    assert smaller.fresh_compile_seconds_ == 0.0
    assert smaller.n_epochs_ == FAST["max_epochs"]


def test_validation_chunks_pad_less_than_training_buckets():
    """Every epoch computes the validation outputs, so their buckets are finer (four to a
    factor of two) than the powers of two that training data pads to."""
    from automl_plugins.deep.training import bucket, eval_chunks
    assert [bucket(n) for n in (1, 144, 256, 257)] == [1, 256, 256, 512]
    assert [bucket(n, 4) for n in (64, 65, 144, 200, 257)] == [64, 80, 160, 224, 320]
    assert eval_chunks(np.ones((144, 3))).shape == (1, 160, 3)
    assert eval_chunks(np.ones((10, 3))).shape == (1, 64, 3)
    assert eval_chunks(np.ones((600, 3))).shape == (2, 512, 3)
    assert eval_chunks(np.ones((144, 3)), n_devices=3).shape == (1, 162, 3)


def test_optimiser_state_starts_as_optax_would_start_it():
    from automl_plugins.deep.training import OPTIMIZERS, initial_state, make_optimizer
    params = {"kernel": np.ones((3, 4), np.float32), "bias": np.ones(4, np.float32)}
    for name in OPTIMIZERS:
        tx = make_optimizer(name)
        expected, started = tx.init(params), initial_state(tx, params)
        assert jax.tree.structure(expected) == jax.tree.structure(started)
        for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(started), strict=True):
            np.testing.assert_array_equal(a, b)


def test_dropout_masks_keep_the_asked_share():
    from automl_plugins.deep.networks import dropout
    x = jnp.ones((200, 500))
    kept = dropout(x, jnp.float32(0.3), jnp.uint32(0), train=True)
    assert abs(float((kept > 0).mean()) - 0.7) < 0.01
    assert abs(float(kept.mean()) - 1.0) < 0.02  # inverted: the expectation is unchanged
    other = dropout(x, jnp.float32(0.3), jnp.uint32(1), train=True)
    assert 0.5 < float(((kept > 0) == (other > 0)).mean()) < 0.65  # independent masks
    assert dropout(x, None, jnp.uint32(0), train=True) is x


def test_hashed_seeds_differ_by_every_word():
    from automl_plugins.deep.networks import mix
    seeds = {int(mix(seed, epoch, step)) for seed in range(3) for epoch in range(20)
             for step in range(20)}
    assert len(seeds) == 3 * 20 * 20
    assert int(mix(0, 0)) != 0  # a zero seed at epoch 0 still draws


def test_random_shifts_move_images_by_at_most_one_pixel_every_way():
    from automl_plugins.deep.training import random_shift
    images = jnp.zeros((900, 5, 5, 1)).at[:, 2, 2, 0].set(1.0)  # one lit centre pixel
    shifted = np.asarray(random_shift(images, jnp.uint32(7)))
    lit = np.argwhere(shifted[..., 0])[:, 1:]  # (row, column) of each image's pixel
    assert len(lit) == 900 and np.abs(lit - 2).max() == 1
    counts = np.unique(lit, axis=0, return_counts=True)[1]
    assert len(counts) == 9 and counts.min() > 60  # every shift, about evenly


def test_learns_a_simple_problem():
    X, y = tiny("tabular", n=300)
    model = FlaxClassifier(MLP(depth=1, width=32), max_epochs=30, batch_size=32,
                           learning_rate=1e-2, random_state=0, device="cpu").fit(X, y)
    assert model.score(X, y) > 0.9


def test_regression_predicts_on_the_target_scale():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    y = 100 + 20 * X[:, 0]
    model = FlaxRegressor(MLP(depth=1, width=32), max_epochs=40, batch_size=32,
                          learning_rate=1e-2, random_state=0, device="cpu").fit(X, y)
    assert model.predict(X).shape == (200,)
    assert model.score(X, y) > 0.8


def test_the_epoch_callback_sees_every_epoch_and_can_stop_training():
    X, y = tiny("sequence")
    seen = []

    def callback(epoch, estimator):
        seen.append((epoch, estimator.predict(X).shape))
        if epoch == 1:
            raise optuna.TrialPruned()

    with pytest.raises(optuna.TrialPruned):
        small("rnn").fit(X, y, validation_data=(X, y), epoch_callback=callback)
    assert seen == [(0, (64,)), (1, (64,))]


def test_an_epoch_callback_returning_true_ends_the_fit_with_its_best_epoch():
    """On digits (8x8 images): asked to end after its third epoch, a fit stops there as
    early stopping would, keeping the best of its three epochs, and predicts; alone and
    in a population (where only the member asked stops)."""
    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 8, 8, 1)

    def stop_at_third(epoch, estimator):
        return epoch == 2

    settings = dict(max_epochs=20, patience=20, width=16)
    model = small("mlp", **settings).fit(X, y, epoch_callback=stop_at_third)
    assert model.n_epochs_ == 3 and model.best_epoch_ <= 2
    assert model.score(X, y) > 0.5  # three epochs learn something of ten digits
    members = [small("mlp", learning_rate=rate, **settings) for rate in (1e-3, 3e-3)]
    errors = fit_population(members, X, y, (X, y), [None, stop_at_third], together=True)
    assert errors == [None, None]
    assert members[0].n_epochs_ == 20 and members[1].n_epochs_ == 3
    assert members[1].predict(X).shape == (len(X),)


def test_an_rnn_refuses_images_with_a_clear_error():
    X, y = tiny("image")
    with pytest.raises(ValueError, match="RNN takes sequences"):
        small("rnn").fit(X, y)


def test_deep_families_declare_their_depth_ranges(registry):
    from automl.data.datasets import DatasetInfo
    info = DatasetInfo("x", "sequence", (12, 2), "classification", ("a", "b"), None, 50, 10)
    for family in FAMILIES:
        assert family.kind == "deep" and family.evaluation == "holdout"
        study = optuna.create_study()
        trial = study.ask()
        family.search_space(trial, info)
        depth = trial.distributions["depth"]
        assert depth.low == 1 and depth.high == (3 if family.name == "rnn" else 6)
        assert trial.distributions["learning_rate"].log
        assert {"optimizer", "batch_size", "max_epochs", "schedule", "dropout"} <= set(
            trial.params)
        assert registry.models[family.name].plugin == "flax"


def search_deep(registry, family_name, dataset, tmp_path, n_trials, **settings_kwargs):
    family = registry.models[family_name].item
    settings = SearchSettings("t", 0, "random", "median", 3,
                              registry.metrics["accuracy"].item, "d", "cpu",
                              **settings_kwargs)
    study = open_study(open_storage(None, tmp_path), settings, family.name)
    search_family(study, family, dataset.info, dataset.train, settings, n_trials=n_trials,
                  seconds=None)
    return finished_trials(study)


@pytest.fixture(scope="module")
def tiny_sequences():
    X, y = tiny("sequence", n=120)
    return prepare_dataset(RawData(X, y, "sequence"), name="tiny", task_type=None,
                           test_size=0.25, seed=0)


SMALL_MLP = {"depth": 2, "width": 16, "width_factor": 1.0, "optimizer": "adam",
             "learning_rate": 0.01, "weight_decay": 1e-7, "batch_size": 32, "max_epochs": 4,
             "schedule": "constant", "dropout": 0.0, "activation": "relu"}


def test_a_deep_trial_is_scored_on_the_task_folds_like_every_family(registry, tiny_sequences,
                                                                    tmp_path):
    family = registry.models["mlp"].item
    settings = SearchSettings("t", 0, "random", "median", 3,
                              registry.metrics["accuracy"].item, "d", "cpu")
    study = open_study(open_storage(None, tmp_path), settings, family.name)
    study.enqueue_trial(SMALL_MLP)
    search_family(study, family, tiny_sequences.info, tiny_sequences.train, settings,
                  n_trials=1, seconds=None)
    (trial,) = finished_trials(study)
    assert trial.state == TrialState.COMPLETE and 0.3 < trial.value <= 1
    assert list(trial.intermediate_values) == [0, 1, 2]  # one report per fold
    assert len(trial.user_attrs["cv_scores"]) == 3 and trial.user_attrs["cv_std"] >= 0


def test_a_diverging_trial_is_recorded_as_failed_and_the_study_goes_on(registry, tmp_path,
                                                                       tiny_sequences):
    family = registry.models["mlp"].item
    settings = SearchSettings("t", 0, "random", "none", 3, registry.metrics["accuracy"].item,
                              "d", "cpu")
    study = open_study(open_storage(None, tmp_path), settings, family.name)
    for learning_rate in (1e12, 0.01):  # the first explodes, the second trains
        study.enqueue_trial({**SMALL_MLP, "optimizer": "sgd", "learning_rate": learning_rate})
    search_family(study, family, tiny_sequences.info, tiny_sequences.train, settings,
                  n_trials=2, seconds=None)
    failed, trained = finished_trials(study)
    assert failed.state == TrialState.FAIL and failed.params["learning_rate"] == 1e12
    assert "the training loss became nan at epoch" in failed.user_attrs["error"]
    assert trained.state == TrialState.COMPLETE


def test_a_trial_past_the_time_limit_fails_with_the_reason(registry, tmp_path,
                                                           tiny_sequences):
    family = registry.models["mlp"].item
    settings = SearchSettings("t", 0, "random", "none", 3, registry.metrics["accuracy"].item,
                              "d", "cpu", trial_timeout=1e-9)
    study = open_study(open_storage(None, tmp_path), settings, family.name)
    study.enqueue_trial(SMALL_MLP)
    search_family(study, family, tiny_sequences.info, tiny_sequences.train, settings,
                  n_trials=1, seconds=None)
    (trial,) = finished_trials(study)
    assert trial.state == TrialState.FAIL
    assert "stopped at trial_timeout" in trial.user_attrs["error"]


def test_im2col_convolution_equals_lax_conv():
    from automl_plugins.deep.networks import Conv, HostInit
    rng = np.random.default_rng(0)
    for shape, kernel in (((2, 7, 5, 3), (3, 3)), ((2, 9, 3), (5,))):
        x = rng.normal(size=shape).astype(np.float32)
        fast = Conv(shape[-1], 4, kernel, im2col=True, use_bias=True, init=HostInit(0))
        plain = Conv(shape[-1], 4, kernel, im2col=False, use_bias=True, init=HostInit(0))
        assert np.allclose(fast(x), plain(x), atol=1e-5)


def test_hand_written_batch_norm_equals_nnx_batch_norm():
    """Outputs in training and inference mode, the running statistics after a step, and
    the gradients of the hand-written backward pass all match Flax's own layer."""
    from automl_plugins.deep.networks import BatchNorm
    from flax import nnx
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, size=(16, 5, 5, 6)).astype(np.float32)
    ours = BatchNorm(6)
    theirs = nnx.BatchNorm(6, momentum=0.99, epsilon=1e-5, rngs=nnx.Rngs(0))
    for layer in (ours, theirs):  # the same non-trivial scale and bias
        layer.scale[...] = rng.uniform(0.5, 2.0, 6).astype(np.float32)
        layer.bias[...] = rng.normal(size=6).astype(np.float32)
    theirs.scale[...], theirs.bias[...] = ours.scale[...], ours.bias[...]
    trained = ours(x, use_running_average=False)
    expected = theirs(x, use_running_average=False)
    np.testing.assert_allclose(trained, expected, atol=1e-5)
    np.testing.assert_allclose(ours.mean[...], theirs.mean[...], atol=1e-6)
    np.testing.assert_allclose(ours.var[...], theirs.var[...], atol=1e-5)
    np.testing.assert_allclose(ours(x, use_running_average=True),
                               theirs(x, use_running_average=True), atol=1e-5)

    weights = rng.normal(size=x.shape).astype(np.float32)

    def loss(layer, x):
        return (layer(x, use_running_average=False) * weights).sum()
    (our_params, our_x), (their_params, their_x) = (
        nnx.grad(loss, argnums=(0, 1))(nnx.clone(layer), x) for layer in (ours, theirs))
    np.testing.assert_allclose(our_x, their_x, atol=1e-4)
    for param in ("scale", "bias"):
        np.testing.assert_allclose(our_params[param][...], their_params[param][...],
                                   rtol=1e-4, atol=1e-4)


def test_initial_weights_follow_flax_defaults():
    from automl_plugins.deep.networks import HostInit
    init = HostInit(0)
    kernel = np.asarray(init.lecun_normal(None, (400, 300)))
    assert abs(kernel.std() - (1 / 400) ** 0.5) < 0.002 and np.abs(kernel).max() <= 2 * 0.06
    conv = np.asarray(init.he_normal(None, (3, 3, 16, 32)))
    assert abs(conv.std() - (2 / 144) ** 0.5) < 0.005
    recurrent = np.asarray(init.orthogonal(None, (16, 48)))
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(16), atol=1e-5)
    assert np.array_equal(kernel, HostInit(0).lecun_normal(None, (400, 300)))


TWO_DEVICES = textwrap.dedent("""
    import jax, numpy as np
    from automl_plugins.deep.architectures import CNN
    from automl_plugins.deep.estimator import FlaxClassifier
    assert len(jax.devices("cpu")) == 2, jax.devices()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(96, 6, 6, 1)).astype(np.float32); y = np.arange(96) % 3
    X[:, 0, 0, 0] += y
    kw = dict(network=CNN(depth=2, width=8, batch_norm=True), batch_size=32, max_epochs=4,
              device="cpu", random_state=0)
    one = FlaxClassifier(n_devices=1, **kw).fit(X, y)
    two = FlaxClassifier(**kw).fit(X, y)
    print(one.device_, two.device_)
    print(float(np.abs(one.predict_proba(X) - two.predict_proba(X)).max()))
""")


def test_two_devices_give_the_single_device_result():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu")
    result = subprocess.run([sys.executable, "-c", TWO_DEVICES], capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    devices, difference = result.stdout.split("\n")[:2]
    assert devices == "cpu x1 cpu x2"
    assert float(difference) < 1e-4


def test_the_estimators_work_in_plain_scikit_learn_code():
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_score
    X, y = tiny("tabular", n=90)
    model = FlaxClassifier(MLP(depth=1, width=16), max_epochs=5, batch_size=16,
                           learning_rate=1e-2, device="cpu")
    assert repr(clone(model).get_params()) == repr(model.get_params())
    assert model.set_params(network__depth=2).network.depth == 2
    scores = cross_val_score(model, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.5


def test_validation_outputs_from_training_match_a_fresh_prediction():
    """The epoch program's validation outputs stand in for predict on that very array."""
    X, y = tiny("tabular", n=200)
    X_val, y_val = X[150:], y[150:]
    seen = []
    model = small("mlp", depth=2).fit(
        X[:150], y[:150], validation_data=(X_val, y_val),
        epoch_callback=lambda epoch, est: seen.append(est.predict_proba(X_val)))
    assert len(seen) == FAST["max_epochs"]
    reused, fresh = model.predict_proba(X_val), model.predict_proba(X_val.copy())
    np.testing.assert_allclose(reused, fresh, atol=1e-5)
    assert any(np.abs(reused - epoch).max() > 1e-4 for epoch in seen[:-1])  # epochs differ


def test_a_population_trained_together_ends_as_each_fit_alone():
    """vmapped training (what accelerators run) gives each member what its own fit gives:
    the same epochs, best epoch, reports and predictions, with one compiled program."""
    X, y = tiny("image", n=96)
    X_val, y_val = tiny("image", n=48, seed=1)
    base = dict(depth=2, schedule="cosine", patience=2, max_epochs=6)
    members = [dict(learning_rate=3e-3), dict(learning_rate=2e-2, dropout=0.3, max_epochs=4),
               dict(learning_rate=1e-3, weight_decay=1e-2, dropout=0.1)]

    def fits(together: bool):
        seen = {i: [] for i in range(len(members))}

        def callback(i):
            return lambda epoch, model: seen[i].append(
                (epoch, model.predict_proba(X_val).round(5).tolist()))
        estimators = [small("cnn", **{**base, **member}) for member in members]
        compiled = PROGRAMS.compiled
        errors = fit_population(estimators, X, y, (X_val, y_val),
                                [callback(i) for i in range(len(members))], together)
        assert errors == [None] * len(members)
        return estimators, seen, PROGRAMS.compiled - compiled

    alone, alone_seen, _ = fits(together=False)
    together, together_seen, compiled = fits(together=True)
    assert compiled == 1  # one program for the whole population
    assert [e.n_epochs_ for e in together] == [e.n_epochs_ for e in alone]
    assert together[1].n_epochs_ <= 4  # its own max_epochs
    assert [e.best_epoch_ for e in together] == [e.best_epoch_ for e in alone]
    for a, b in zip(alone, together, strict=True):
        assert np.allclose(a.predict_proba(X_val), b.predict_proba(X_val), atol=1e-5)
        assert b.device_ == "cpu x1" and b.train_seconds_ > 0
    assert [[epoch for epoch, _ in alone_seen[i]] for i in range(3)] == [
        [epoch for epoch, _ in together_seen[i]] for i in range(3)]
    assert np.allclose(np.array(alone_seen[2][-1][1]), np.array(together_seen[2][-1][1]),
                       atol=1e-4)


def test_a_member_stopped_by_its_callback_stops_alone():
    X, y = tiny("tabular")
    estimators = [small("mlp", learning_rate=rate) for rate in (1e-3, 1e-2)]

    def prune(epoch, model):
        raise optuna.TrialPruned()

    errors = fit_population(estimators, X, y, (X, y), [None, prune], together=True)
    assert errors[0] is None and isinstance(errors[1], optuna.TrialPruned)
    assert estimators[0].n_epochs_ == FAST["max_epochs"] and estimators[1].n_epochs_ == 1
    assert estimators[0].predict(X).shape == (len(X),)


def test_a_population_refuses_members_of_different_architectures():
    X, y = tiny("tabular")
    estimators = [small("mlp", depth=depth) for depth in (1, 2)]
    with pytest.raises(ValueError, match="may differ only in dropout, learning_rate"):
        fit_population(estimators, X, y, (X, y), together=True)


@pytest.mark.parametrize("network,kind,fast", [("mlp", "tabular", False),
                                               ("cnn", "image", True),
                                               ("rnn", "sequence", True)])
def test_cnns_and_rnns_compile_for_speed_of_compiling(network, kind, fast):
    """Their programs are many small kernels, where compiling is most of a short trial;
    an MLP's large element-wise kernels run faster with XLA's default emitters."""
    X, y = tiny(kind)
    model = small(network).fit(X, y)
    chosen = {key[0][1].fast_compile for key in PROGRAMS.entries
              if key[0][0] == "train" and key[0][1].graphdef == model.graphdef_}
    assert chosen == {fast}


def test_a_deep_search_asks_trials_in_populations_of_one_architecture(registry, tmp_path,
                                                                      tiny_sequences):
    """Members share the architecture and training set-up the sampler drew for the first
    and differ in what the compiled program takes as arguments: on a CPU they run one by
    one on one compiled program."""
    compiled = PROGRAMS.compiled
    trials = search_deep(registry, "mlp", tiny_sequences, tmp_path, 6, population=3)
    assert len(trials) == 6
    shared = ["depth", "width", "width_factor", "optimizer", "batch_size", "schedule",
              "activation"]
    first, second = trials[:3], trials[3:]
    for population in (first, second):
        assert len({tuple(t.params[name] for name in shared) for t in population}) == 1
        assert len({t.params["learning_rate"] for t in population}) == 3
    assert [first[0].params[n] for n in shared] != [second[0].params[n] for n in shared]
    assert PROGRAMS.compiled - compiled <= 4  # with and without dropout, per population
