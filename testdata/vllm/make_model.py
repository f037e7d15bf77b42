"""Writes a tiny Llama-architecture model folder for vllm serve, offline.

The folder holds a config.json small enough for two CPU cores (hidden 256,
4 layers) and a byte-level BPE tokenizer trained here, with the `tokenizers`
library, on the repository's own text files (deterministic: sorted inputs,
one thread), saved with a chat template. There are no weights: vllm serve
runs it with --load-format dummy (random weights), so nothing is fetched
from a model hub.

    python make_model.py OUT_DIR REPO_ROOT
"""
import json
import os
import sys

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # deterministic merges
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402

VOCAB = 4096
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SPECIAL = ["<s>", "</s>", "<unk>", "<|end|>", "<|user|>", "<|assistant|>", "<|system|>"]


def corpus(root):
    """The repository's Markdown, YAML and Go files, in a fixed order."""
    files = []
    for d, subdirs, names in os.walk(root):
        subdirs[:] = sorted(s for s in subdirs if not s.startswith(".") and s not in ("runs", "node_modules"))
        for n in sorted(names):
            if n.endswith((".md", ".yaml", ".go")):
                files.append(os.path.join(d, n))
    for f in files:
        with open(f, encoding="utf-8", errors="replace") as fh:
            yield fh.read()


def main(out, root):
    os.makedirs(out, exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(root), trainer=trainer)
    tok.save(os.path.join(out, "tokenizer.json"))
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
            "model_max_length": 4096, "chat_template": CHAT_TEMPLATE,
        }, f, indent=2)
    with open(os.path.join(out, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}, f, indent=2)
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 256,
        "intermediate_size": 688,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 64,
        "hidden_act": "silu",
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "vocab_size": tok.get_vocab_size(),
        "bos_token_id": bos,
        "eos_token_id": eos,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": bos, "eos_token_id": eos}, f, indent=2)
    print(f"tiny model in {out}: vocab {tok.get_vocab_size()}, hidden 256, 4 layers")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
