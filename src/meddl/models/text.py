"""Text models: a BiLSTM classifier with attention pooling (passages, question+context pairs), a passage-sequence
tagger that labels an abstract's passages together, and an LSTM language model.

All read token ids from `meddl.data.tokenizer.Tokenizer` (id 0 is padding). The classifier packs sequences by
their lengths and masks padding out of the attention, so how far a batch is padded never changes a prediction.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from meddl.errors import ConfigError
from meddl.models.answer_model import AnswerPrior
from meddl.models.registry import register_model

PAD_ID = 0


class PassageEncoder(nn.Module):
    """Embedding -> BiLSTM -> additive attention pooling: one vector per passage, padding masked out."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD_ID)
        self.encoder = nn.LSTM(embed_dim, hidden, layers, batch_first=True, bidirectional=True,
                               dropout=dropout if layers > 1 else 0.0)
        self.attention = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1, bias=False))
        self.dropout = nn.Dropout(dropout)

    def encode(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """One vector per sequence (B, 2*hidden): BiLSTM states weighted by attention over the real tokens only."""
        # An empty text (length 0) is read as one padding token rather than breaking the batch.
        lengths = lengths.clamp(min=1)
        packed = pack_padded_sequence(self.dropout(self.embedding(tokens)), lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        states, _ = pad_packed_sequence(self.encoder(packed)[0], batch_first=True, total_length=tokens.shape[1])
        scores = self.attention(states).squeeze(-1)
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        scores = scores.masked_fill(positions[None, :] >= lengths.to(tokens.device)[:, None], float("-inf"))
        weights = torch.softmax(scores, dim=1)
        return torch.bmm(weights.unsqueeze(1), states).squeeze(1)


class BiLSTMAttention(PassageEncoder):
    """Embedding -> BiLSTM -> additive attention pooling -> MLP head.

    With `pair`, the question is read by the same BiLSTM and pooled the same way, and the head sees
    [context, question, context * question, |context - question|], the usual features for matching two texts.
    `answer_prior` ({"tail_tokens": n}, pairs only) adds a fixed TF-IDF logistic model of question and passage to
    the logits, fitted into its buffers before training (`meddl.models.answer_model.fit_answer_prior`); training
    batches may bring the prior's out-of-fold logits instead (`prior_logits`, stacked training).
    """

    def __init__(
        self, num_classes: int, vocab_size: int, embed_dim: int, hidden: int, layers: int, dropout: float, pair: bool,
        answer_prior: dict | None = None,
    ) -> None:
        super().__init__(vocab_size, embed_dim, hidden, layers, dropout)
        self.pair = pair
        features = 2 * hidden * (4 if pair else 1)
        if answer_prior and not pair:
            raise ConfigError("bilstm-attention: answer_prior needs pair=True (it reads the question)")
        self.answer_prior = AnswerPrior(vocab_size, num_classes, **answer_prior) if answer_prior else None
        self.head = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Linear(hidden, num_classes))

    def forward(
        self,
        tokens: torch.Tensor,
        lengths: torch.Tensor,
        question: torch.Tensor | None = None,
        question_lengths: torch.Tensor | None = None,
        prior_logits: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits (B, num_classes) for token ids (B, L) with true `lengths` (B,), and the question for pairs.
        `prior_logits` (B, num_classes), given in stacked training, replace the answer prior's own logits."""
        context = self.encode(tokens, lengths)
        if not self.pair:
            if question is not None:
                raise ValueError("this bilstm-attention was built without pair=True; it takes no question")
            logits = self.head(self.dropout(context))
        else:
            if question is None or question_lengths is None:
                raise ValueError("a bilstm-attention built with pair=True needs question and question_lengths")
            asked = self.encode(question, question_lengths)
            combined = torch.cat([context, asked, context * asked, (context - asked).abs()], dim=1)
            logits = self.head(self.dropout(combined))
        if self.answer_prior is None:
            return logits
        if prior_logits is not None:
            return logits + prior_logits
        return logits + self.answer_prior(tokens, lengths, question, question_lengths)


class PassageSequenceTagger(nn.Module):
    """Labels the passages of an abstract as one sequence (after HSLN, Jin & Szolovits 2018, without its CRF).

    Each passage is read alone by a `PassageEncoder` (BiLSTM + attention over its tokens), beside the mean of a
    bag-of-words embedding (`bag_dim`; a fastText-like summary that a few hundred abstracts train well) and its
    place in the abstract (`meddl.data.batching.position_features`); a BiLSTM over the abstract's passages then
    gives each passage the context of its neighbours (a background is followed by an objective, a conclusion
    follows results) before a linear layer labels it.
    """

    reads_documents = True  # the trainer batches whole abstracts for it (`meddl.data.batching.DocumentDataset`)

    def __init__(self, num_classes: int, vocab_size: int, embed_dim: int, hidden: int, context_hidden: int,
                 bag_dim: int, n_positions: int, dropout: float) -> None:
        super().__init__()
        self.reader = PassageEncoder(vocab_size, embed_dim, hidden, 1, dropout)
        self.bag = nn.EmbeddingBag(vocab_size, bag_dim, mode="mean", padding_idx=PAD_ID) if bag_dim else None
        self.context = nn.LSTM(2 * hidden + bag_dim + n_positions, context_hidden, batch_first=True,
                               bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * context_hidden, num_classes)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor, positions: torch.Tensor,
                documents: torch.Tensor) -> torch.Tensor:
        """Logits (P, num_classes) for P passages (token ids (P, L), `lengths` (P,)), with their position features
        (P, F) and document index (P,) in the batch; each document's rows must be contiguous and in order."""
        if len(documents) and bool((documents[1:] < documents[:-1]).any()):
            raise ValueError("passage-bilstm needs each abstract's passages together and in order (documents sorted)")
        parts = [self.reader.encode(tokens, lengths), positions.to(tokens.device, torch.float32)]
        if self.bag is not None:
            parts.insert(1, self.bag(tokens))
        passages = self.dropout(torch.cat(parts, dim=1))
        counts = torch.bincount(documents)
        counts = counts[counts > 0]
        padded = nn.utils.rnn.pad_sequence(torch.split(passages, counts.tolist()), batch_first=True)
        packed = pack_padded_sequence(padded, counts.cpu(), batch_first=True, enforce_sorted=False)
        states, _ = pad_packed_sequence(self.context(packed)[0], batch_first=True, total_length=padded.shape[1])
        present = torch.arange(padded.shape[1], device=tokens.device)[None, :] < counts.to(tokens.device)[:, None]
        return self.head(self.dropout(states[present]))


class LSTMLanguageModel(nn.Module):
    """Embedding -> stacked LSTM -> next-token logits, with the output layer tied to the embedding.

    Tying (Press & Wolf 2017; Inan et al. 2017) halves the parameters and lowers perplexity on small corpora;
    when the LSTM is wider than the embedding a linear projection brings its states down to embedding size first.
    """

    def __init__(
        self, vocab_size: int, embed_dim: int, hidden: int, layers: int, dropout: float, tie_weights: bool
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD_ID)
        self.lstm = nn.LSTM(embed_dim, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        needs_projection = tie_weights and hidden != embed_dim
        self.projection = nn.Linear(hidden, embed_dim) if needs_projection else nn.Identity()
        self.decoder = nn.Linear(embed_dim if tie_weights else hidden, vocab_size)
        if tie_weights:
            self.decoder.weight = self.embedding.weight

    def forward(
        self, tokens: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Logits (B, L, V) for the token after each position, and the LSTM state to continue from."""
        outputs, state = self.lstm(self.dropout(self.embedding(tokens)), state)
        return self.decoder(self.dropout(self.projection(outputs))), state


def _check_vocab(name: str, vocab_size: int | None) -> int:
    if not isinstance(vocab_size, int) or vocab_size < 5:
        raise ConfigError(f"{name}: vocab_size must be the tokenizer's vocabulary size (>= 5), got {vocab_size!r}")
    return vocab_size


@register_model("bilstm-attention", "text", "bidirectional LSTM with attention pooling; pair=True for question + "
                "context", input_size="token ids (B, L)")
def build_bilstm_attention(
    in_channels: int,  # noqa: ARG001 - tokens have no channels; the registry passes 1
    num_classes: int,
    vocab_size: int | None = None,
    embed_dim: int = 128,
    hidden: int = 128,
    layers: int = 1,
    dropout: float = 0.3,
    pair: bool = False,
    answer_prior: dict | None = None,
) -> nn.Module:
    return BiLSTMAttention(num_classes, _check_vocab("bilstm-attention", vocab_size), embed_dim, hidden, layers,
                           dropout, pair, answer_prior)


@register_model("passage-bilstm", "text", "labels an abstract's passages as one sequence: BiLSTM+attention per "
                "passage, bag-of-words and position features, BiLSTM over the passages",
                input_size="whole abstracts: token ids (P, L) per passage")
def build_passage_bilstm(
    in_channels: int,  # noqa: ARG001 - tokens have no channels; the registry passes 1
    num_classes: int,
    vocab_size: int | None = None,
    embed_dim: int = 128,
    hidden: int = 128,
    context_hidden: int = 64,
    bag_dim: int = 64,
    n_positions: int = 5,
    dropout: float = 0.3,
) -> nn.Module:
    return PassageSequenceTagger(num_classes, _check_vocab("passage-bilstm", vocab_size), embed_dim, hidden,
                                 context_hidden, bag_dim, n_positions, dropout)


@register_model("lstm-lm", "language-model", "LSTM language model with tied input/output embeddings",
                input_size="token ids (B, L)")
def build_lstm_lm(
    in_channels: int,  # noqa: ARG001 - tokens have no channels; the registry passes 1
    num_classes: int,
    vocab_size: int | None = None,
    embed_dim: int = 256,
    hidden: int = 512,
    layers: int = 2,
    dropout: float = 0.3,
    tie_weights: bool = True,
) -> nn.Module:
    vocab_size = _check_vocab("lstm-lm", vocab_size)
    if num_classes != vocab_size:
        raise ConfigError(f"lstm-lm predicts the next token: num_classes ({num_classes}) must equal vocab_size "
                          f"({vocab_size})")
    return LSTMLanguageModel(vocab_size, embed_dim, hidden, layers, dropout, tie_weights)
