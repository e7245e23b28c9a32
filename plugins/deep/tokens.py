"""Texts as token ids for the networks trained from scratch: a byte-pair-encoding (BPE)
vocabulary learnt by Hugging Face `tokenizers` from the rows `TokenIds` is fitted on
(never fetched from a hub), so no test or validation text shapes it.

BPE rather than WordPiece: the library's WordPiece and Unigram trainers break ties in
hash-map order, so two fits on the same texts learnt different vocabularies (of 1,100 to
1,102 tokens on 40 tweets) and the same seed gave different models; its BPE trainer
gives the same vocabulary every time."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

SPECIAL = ("[PAD]", "[UNK]")  # [PAD] is id 0: the networks mask it


class TokenIds(TransformerMixin, BaseEstimator):
    """Texts (a table's text columns, `automl_plugins.text_columns.texts_of`) to token ids
    (n, `max_length`) as float32, 0 after the text's end; texts with more tokens are cut
    there (`n_truncated_` counts those of the last `transform`)."""

    def __init__(self, vocab_size: int = 8000, max_length: int = 64):
        self.vocab_size = vocab_size
        self.max_length = max_length

    def fit(self, X, y=None):
        from automl_plugins.text_columns import texts_of
        from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
        tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))  # noqa: S106 (a token, not a password)
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        trainer = trainers.BpeTrainer(vocab_size=self.vocab_size,
                                            special_tokens=list(SPECIAL),
                                            show_progress=False)
        tokenizer.train_from_iterator(texts_of(X), trainer)
        self.tokenizer_ = tokenizer
        self.vocabulary_size_ = tokenizer.get_vocab_size()
        return self

    def transform(self, X) -> np.ndarray:
        encodings, truncated = self._encode(X)
        ids = np.zeros((len(encodings), self.max_length), np.float32)
        for row, encoding in enumerate(encodings):
            kept = encoding.ids[:self.max_length]
            ids[row, :len(kept)] = kept
        self.n_truncated_ = sum(truncated)
        return ids

    def count_truncated(self, X) -> int:
        """How many of X's texts have more than `max_length` tokens."""
        return sum(self._encode(X)[1])

    def _encode(self, X) -> tuple[list, list[bool]]:
        """X's encodings, each text cut first to what can fill the window
        (`automl_plugins.text_columns.window_texts`), and whether each is truncated."""
        from automl_plugins.text_columns import texts_of, window_texts
        texts, cut = window_texts(texts_of(X), self.max_length)
        encodings = self.tokenizer_.encode_batch(texts)
        return encodings, [len(e.ids) > self.max_length or was_cut
                           for e, was_cut in zip(encodings, cut, strict=True)]

    def to_str(self) -> str:
        """The fitted tokenizer as its JSON (what `from_str` reads)."""
        return self.tokenizer_.to_str()

    @classmethod
    def from_str(cls, text: str, max_length: int) -> TokenIds:
        from tokenizers import Tokenizer
        encoder = cls(max_length=max_length)
        encoder.tokenizer_ = Tokenizer.from_str(text)
        encoder.vocabulary_size_ = encoder.tokenizer_.get_vocab_size()
        encoder.vocab_size = encoder.vocabulary_size_
        return encoder
