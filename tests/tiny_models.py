"""Tiny random-weight checkpoints built in-process (no hub): real code paths on real tensors."""

from __future__ import annotations

from pathlib import Path

CORPUS = [
    "How do I bake bread at home? Sure, here's how: mix flour, water and salt.",
    "I can't help with that. I cannot assist with harmful requests. Sorry.",
    "Question: what is the capital of France? Answer: Paris is the capital.",
    "Write a short poem about the sea and the lighthouse keeper at night.",
    "Step 1: gather the materials. Step 2: follow the recipe. First, preheat the oven.",
] * 4

CHAT_TEMPLATE = (
    "{% for m in messages %}<|user|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def make_tokenizer(chat: bool):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|user|>", "<|assistant|>", "<|end|>"]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>",
                                   bos_token="<|endoftext|>", pad_token="<|endoftext|>")
    if chat:
        fast.chat_template = CHAT_TEMPLATE
    return fast


def make_checkpoint(root: Path, arch: str, seed: int = 0) -> Path:
    """Save a 4-layer random ``gpt_neox`` (pythia family, plain prompts), ``llama``, ``qwen2`` or ``phi3`` (chat)
    or ``gemma3`` (Gemma 3 text, plain prompts like the embedded gemma3-270m base model) checkpoint."""
    import torch
    from transformers import AutoModelForCausalLM, Gemma3TextConfig, GPTNeoXConfig, LlamaConfig, Phi3Config, Qwen2Config

    tokenizer = make_tokenizer(chat=arch in ("llama", "qwen2", "phi3"))
    common = dict(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
                  intermediate_size=128, max_position_embeddings=256,
                  eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id,
                  pad_token_id=tokenizer.pad_token_id)
    if arch == "gpt_neox":
        config = GPTNeoXConfig(rotary_pct=0.25, **common)
    elif arch == "llama":
        config = LlamaConfig(num_key_value_heads=2, **common)
    elif arch == "qwen2":  # the Qwen2 / Qwen2.5 chat family (issue 13's larger models)
        config = Qwen2Config(num_key_value_heads=2, **common)
    elif arch == "phi3":  # Phi-3-mini's architecture (fused qkv and gate_up projections)
        config = Phi3Config(num_key_value_heads=2, **common)
    elif arch == "gemma3":
        config = Gemma3TextConfig(num_key_value_heads=2, head_dim=16, sliding_window=96,
                                  layer_types=["sliding_attention", "sliding_attention", "sliding_attention",
                                               "full_attention"], **common)
    else:
        raise ValueError(arch)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    # Random init gives near-uniform logits; sharpen them so sampling is not pure noise.
    with torch.no_grad():
        for param in model.parameters():
            param.mul_(4.0 if param.dim() > 1 else 1.0)
    out = root / f"tiny-{arch}"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
