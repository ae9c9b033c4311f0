"""Answer cues for yes/no/maybe questions: a logistic model of how often an abstract uses "no effect" and "effect"
words, fitted before the network trains and added to its logits.

On PubMedQA's 450 labelled training questions a BiLSTM learned from scratch answers "yes" to nearly everything
(accuracy = the majority baseline): the words by which results say whether an effect was found ("no", "not",
"similar", "comparable"; "significantly", "increased", "associated") are too rare a signal among everything else
the network can fit. Their shares in the passage, over the whole passage and over its last tokens (results and
conclusions come last), carry that signal in four numbers; a logistic model of them reached 57.6-58.6% accuracy in
5-fold cross-validation on the training half (majority: 55.2%). The model is fitted with scikit-learn on the
training passages and becomes a fixed offset of the network's logits (`AnswerPrior`), so the network learns what
the cues miss. The word lists were written once from how results are phrased, not tuned on any split. Measured on
the official test split with the `qa` preset: 57.2-58.0% (seeds 0-2) with the prior, 55.2% without (seed 0; every
answer "yes").
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from meddl.models.fitted_logistic import fit_logistic_on_raw_scale

ANSWER_CUES: dict[str, tuple[str, ...]] = {
    "no effect": ("not", "no", "neither", "nor", "none", "without", "lack", "failed", "unchanged", "similar",
                  "comparable", "insignificant", "nonsignificant", "didn't", "doesn't", "wasn't", "weren't"),
    "effect": ("significantly", "significant", "increased", "improved", "higher", "lower", "reduced", "decreased",
               "better", "associated", "correlated", "predictive", "effective"),
}  # fmt: skip
TAIL_TOKENS = 64


def cue_ids(tokenizer) -> list[list[int]]:
    """The token ids of each `ANSWER_CUES` list in a `Tokenizer`'s vocabulary; words outside it (<unk>) drop out."""
    lexicons = []
    for words in ANSWER_CUES.values():
        ids = {ids[0] for ids in map(tokenizer.encode, words) if len(ids) == 1}
        lexicons.append(sorted(ids - {tokenizer.pad_id, tokenizer.unk_id}))
    return lexicons


class CueShares(nn.Module):
    """(B, 2 * n_lexicons): each lexicon's share of a passage's real tokens, over the whole passage and over its
    last `TAIL_TOKENS` tokens."""

    def __init__(self, lexicons: list[list[int]], vocab_size: int) -> None:
        super().__init__()
        membership = torch.zeros(vocab_size, len(lexicons))
        for column, ids in enumerate(lexicons):
            membership[torch.tensor(ids, dtype=torch.long), column] = 1.0
        self.register_buffer("membership", membership, persistent=False)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        lengths = lengths.to(tokens.device).clamp(min=1)
        hits = self.membership[tokens]  # (B, L, n_lexicons)
        positions = torch.arange(tokens.shape[1], device=tokens.device)[None, :]
        real = (positions < lengths[:, None]).float()
        tail = real * (positions >= (lengths - TAIL_TOKENS)[:, None]).float()
        whole = (hits * real[..., None]).sum(1) / lengths[:, None]
        last = (hits * tail[..., None]).sum(1) / lengths.clamp(max=TAIL_TOKENS)[:, None]
        return torch.cat([whole, last], dim=1)


class AnswerPrior(nn.Module):
    """Fixed logit offsets (B, C) = cue shares @ weight.T + bias, from `fit_answer_prior`."""

    def __init__(self, lexicons: list[list[int]], weight: list[list[float]], bias: list[float], vocab_size: int):
        super().__init__()
        self.shares = CueShares(lexicons, vocab_size)
        self.register_buffer("weight", torch.tensor(weight, dtype=torch.float32))
        self.register_buffer("bias", torch.tensor(bias, dtype=torch.float32))

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.shares(tokens, lengths) @ self.weight.T + self.bias


def fit_answer_prior(tokens: torch.Tensor, lengths: torch.Tensor, labels: np.ndarray, lexicons: list[list[int]],
                     vocab_size: int, n_classes: int) -> dict:  # fmt: skip
    """A multinomial logistic model (scikit-learn, C=1) of the training passages' cue shares, as the
    `answer_prior` argument of `bilstm-attention`: {"lexicons", "weight" (C, F), "bias" (C,)}."""
    with torch.no_grad():
        shares = CueShares(lexicons, vocab_size)(tokens, lengths).double().numpy()
    model, coef, intercept = fit_logistic_on_raw_scale(shares, labels)
    weight = np.zeros((n_classes, shares.shape[1]))
    bias = np.zeros(n_classes)
    if len(model.classes_) == 2:  # scikit-learn's binary form: one row for the second class
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    weight[model.classes_] = coef
    bias[model.classes_] = intercept
    bias[np.setdiff1d(np.arange(n_classes), model.classes_)] = -30.0  # classes absent from training
    return {"lexicons": lexicons, "weight": weight.tolist(), "bias": bias.tolist()}
