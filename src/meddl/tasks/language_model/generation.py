"""Sampling text from a trained language model, reproducibly: the same seed gives the same text."""

from __future__ import annotations

import torch
from torch import nn

from meddl.data.tokenizer import Tokenizer
from meddl.errors import ConfigError, DataError


def sample_text(
    net: nn.Module,
    tokenizer: Tokenizer,
    prompt: str,
    max_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int = 0,
) -> str:
    """The prompt continued by up to `max_tokens` sampled tokens (fewer if <eos> comes first), decoded.

    `net` is a language model called as `net(tokens, state=state) -> (logits, state)` (e.g. `lstm-lm`), read as
    <bos> followed by the prompt, as in training. Each next token is drawn from softmax(logits / temperature),
    restricted to the `top_k` most likely when given (top_k=1 is greedy decoding). <pad>, <bos> and <unk> are
    never drawn. In char mode every prompt character must be in the vocabulary; in word mode unknown words read
    as <unk>, and only a prompt with no known word at all is refused. The prompt comes back normalised.

    Example: ``sample_text(net, tokenizer, "the patients were", max_tokens=30, top_k=10, seed=1)``
    """
    _check_arguments(max_tokens, temperature, top_k)
    prompt_ids = _encode_prompt(tokenizer, prompt)
    generator = torch.Generator().manual_seed(seed)
    device = next(net.parameters()).device
    banned = torch.tensor([tokenizer.pad_id, tokenizer.bos_id, tokenizer.unk_id])
    was_training = net.training
    net.eval()
    generated: list[int] = []
    try:
        with torch.inference_mode():
            logits, state = net(torch.tensor([[tokenizer.bos_id, *prompt_ids]], device=device), state=None)
            for _ in range(max_tokens):
                token = _draw(logits[0, -1].float().cpu(), banned, temperature, top_k, generator)
                if token == tokenizer.eos_id:
                    break
                generated.append(token)
                logits, state = net(torch.tensor([[token]], device=device), state=state)
    finally:
        net.train(was_training)
    return tokenizer.decode(prompt_ids + generated)


def _check_arguments(max_tokens: int, temperature: float, top_k: int | None) -> None:
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise ConfigError(f"max_tokens={max_tokens!r}: expected an integer >= 1")
    if not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ConfigError(f"temperature={temperature!r}: expected a number > 0 (lower is more conservative)")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ConfigError(f"top_k={top_k!r}: expected an integer >= 1, or none to sample from every token")


def _encode_prompt(tokenizer: Tokenizer, prompt: str) -> list[int]:
    if not prompt.strip():
        raise DataError("the prompt is empty: give the text the model should continue")
    if tokenizer.level == "char":
        return tokenizer.encode(prompt, strict=True)
    ids = tokenizer.encode(prompt)
    if all(i == tokenizer.unk_id for i in ids):
        tokenizer.encode(prompt, strict=True)  # raises the DataError that lists the unknown words
    return ids


def _draw(
    logits: torch.Tensor, banned: torch.Tensor, temperature: float, top_k: int | None, generator: torch.Generator
) -> int:
    """One token id drawn from the tempered, top-k restricted distribution over `logits` (V,)."""
    logits = logits.index_fill(0, banned, float("-inf")) / temperature
    if top_k is not None and top_k < logits.numel():
        threshold = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < threshold, float("-inf"))
    return int(torch.multinomial(torch.softmax(logits, dim=0), 1, generator=generator))
