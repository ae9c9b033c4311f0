"""A learned answer prior for yes/no/maybe questions: TF-IDF features of the question, the passage and the passage's
last tokens, a class-balanced logistic model of them, and a logit shift for "maybe", fitted before the network
trains and added to its logits. It replaces two hand-written word lists.

On PubMedQA's 450 labelled training questions a BiLSTM learned from scratch answers "yes" to nearly everything: the
words by which results say whether an effect was found are too rare a signal among everything else the network can
fit. A linear model over word weights, fitted by scikit-learn, learns which words those are:

* results come last in an abstract, so the last `tail_tokens` tokens get their own block of features;
* classes are weighted by their inverse frequency ("maybe" is 11% of training answers), and a further "maybe" shift
  is chosen by grouped cross-validation on the training questions only (best accuracy + macro-F1), so the prior alone
  predicts "maybe" where it is likely rather than never.

The settings (C, tail, class weights, the objective) were chosen by 5-fold cross-validation on the training questions
(three fold seeds); using the abstracts' conclusions (LONG_ANSWER) as extra training passages did not help there
(see `AnswerFitSettings`).

The network is stacked on the prior: during training its fixed offset is each training question's out-of-fold prior
logits (`PriorFit.out_of_fold`, the folds the "maybe" shift is chosen on, shift included; `StackedTrainingSet`),
while validation and prediction use the prior fitted on all training questions. Trained on the in-sample prior
instead, the BiLSTM learned a constant -2.4 on the "maybe" logit (the prior fits its own training questions too
well, so the network learns to distrust it) and never predicted "maybe". All fitted parts are tensor buffers (idf
weights, coefficients, bias), so a checkpoint loads with `torch.load(weights_only=True)`; the hyper-parameters hold
only the tail length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from meddl.errors import DataError

PAD_ID, UNK_ID = 0, 1
BLOCKS = ("question", "passage", "tail")
MAYBE = 2  # the index of "maybe" in the answers (yes, no, maybe)


@dataclass(frozen=True)
class AnswerFitSettings:
    """What `fit_answer_prior` uses: C of the logistic model, the length of the passage's tail, the "maybe" shifts
    searched by cross-validation and the number of folds.

    Chosen by 5-fold CV on PubMedQA's training questions (mean of fold seeds 0-2; accuracy / macro-F1): C=30 with
    balanced class weights 59.9 / 43.4; C=10 unweighted 60.2 / 40.4; conclusions added as extra training passages
    59.4 / 42.9; hashed word pairs, a conclusion-only model applied to passages, and no tail block all lower.
    """

    c: float = 30.0
    tail_tokens: int = 96
    maybe_shifts: tuple[float, ...] = tuple(step / 4 for step in range(13))  # 0, 0.25, ..., 3
    folds: int = 5


def _counts(tokens: torch.Tensor, lengths: torch.Tensor, vocab_size: int, tail: int | None = None) -> torch.Tensor:
    """(B, V) counts of each token id among a sequence's real tokens (or its last `tail` ones); pad and <unk> never
    count."""
    positions = torch.arange(tokens.shape[1], device=tokens.device)[None, :]
    lengths = lengths.to(tokens.device)[:, None]
    keep = positions < lengths
    if tail is not None:
        keep &= positions >= lengths - tail
    keep &= (tokens != PAD_ID) & (tokens != UNK_ID)
    counts = torch.zeros(tokens.shape[0], vocab_size, device=tokens.device)
    return counts.scatter_add_(1, tokens.long(), keep.float())


def _tfidf(counts: torch.Tensor, idf: torch.Tensor) -> torch.Tensor:
    """Sublinear TF-IDF, each row scaled to unit length (scikit-learn's TfidfVectorizer with sublinear_tf)."""
    weights = torch.where(counts > 0, 1.0 + torch.log(counts.clamp(min=1.0)), counts) * idf
    return weights / weights.norm(dim=1, keepdim=True).clamp(min=1e-12)


class AnswerFeatures(nn.Module):
    """(B, 3V) TF-IDF features: question, passage and the passage's last `tail_tokens` tokens, one block each."""

    def __init__(self, vocab_size: int, tail_tokens: int) -> None:
        super().__init__()
        self.vocab_size, self.tail_tokens = vocab_size, tail_tokens
        self.register_buffer("idf", torch.ones(len(BLOCKS), vocab_size))

    def counts(self, tokens, lengths, question, question_lengths) -> list[torch.Tensor]:
        return [_counts(question, question_lengths, self.vocab_size), _counts(tokens, lengths, self.vocab_size),
                _counts(tokens, lengths, self.vocab_size, self.tail_tokens)]

    def forward(self, tokens, lengths, question, question_lengths) -> torch.Tensor:
        blocks = self.counts(tokens, lengths, question, question_lengths)
        return torch.cat([_tfidf(block, idf) for block, idf in zip(blocks, self.idf)], dim=1)

    def fit_idf(self, tokens, lengths, question, question_lengths) -> None:
        """Smoothed inverse document frequencies of the training texts (scikit-learn's smooth_idf)."""
        with torch.no_grad():
            for row, block in enumerate(self.counts(tokens, lengths, question, question_lengths)):
                frequency = (block > 0).float().sum(0)
                self.idf[row] = torch.log((1 + len(block)) / (1 + frequency)) + 1


class AnswerPrior(nn.Module):
    """Fixed logit offsets (B, C) = features @ weight.T + bias, the fitted logistic model plus the "maybe" shift."""

    def __init__(self, vocab_size: int, n_classes: int, tail_tokens: int) -> None:
        super().__init__()
        self.features = AnswerFeatures(vocab_size, tail_tokens)
        self.register_buffer("weight", torch.zeros(n_classes, len(BLOCKS) * vocab_size))
        self.register_buffer("bias", torch.zeros(n_classes))

    def forward(self, tokens, lengths, question, question_lengths) -> torch.Tensor:
        return self.features(tokens, lengths, question, question_lengths) @ self.weight.T + self.bias


@dataclass(frozen=True)
class QATrainingSet:
    """The training questions as the model reads them: padded token ids and true lengths of the passages and the
    questions, the answers, and the abstract of each question (for grouped folds)."""

    tokens: torch.Tensor
    lengths: torch.Tensor
    question: torch.Tensor
    question_lengths: torch.Tensor
    labels: np.ndarray
    groups: list[str]

    def subset(self, index: np.ndarray) -> QATrainingSet:
        rows = torch.as_tensor(index, dtype=torch.long)
        return QATrainingSet(self.tokens[rows], self.lengths[rows], self.question[rows], self.question_lengths[rows],
                             self.labels[index], [self.groups[i] for i in index])


def _features(features: AnswerFeatures, data: QATrainingSet):
    """The features as scipy CSR (mostly zeros), as scikit-learn fits them fastest."""
    from scipy.sparse import csr_matrix

    with torch.no_grad():
        return csr_matrix(features(data.tokens, data.lengths, data.question, data.question_lengths).double().numpy())


def _fit_logistic(data: QATrainingSet, vocab_size: int, settings: AnswerFitSettings):
    """(features with idf fitted on `data`, a class-balanced scikit-learn LogisticRegression fitted on them)."""
    from sklearn.linear_model import LogisticRegression

    features = AnswerFeatures(vocab_size, settings.tail_tokens)
    features.fit_idf(data.tokens, data.lengths, data.question, data.question_lengths)
    model = LogisticRegression(C=settings.c, class_weight="balanced", max_iter=5000)
    return features, model.fit(_features(features, data), data.labels)


def _class_logits(model, x, n_classes: int) -> np.ndarray:
    """(N, n_classes) logits; classes absent from the fit get -30 (never predicted)."""
    logits = np.full((x.shape[0], n_classes), -30.0)
    logits[:, model.classes_] = model.predict_log_proba(x)
    return logits


def out_of_fold_logits(data: QATrainingSet, vocab_size: int, n_classes: int, settings: AnswerFitSettings,
                       seed: int) -> np.ndarray | None:  # fmt: skip
    """(N, n_classes) logits of each training question from a prior fitted without it: grouped, stratified folds
    (the questions of one abstract stay together), each fold fitted as the final prior is. None when some class
    has fewer than two questions (no folds)."""
    from sklearn.model_selection import StratifiedGroupKFold

    y = data.labels
    folds = min(settings.folds, int(np.bincount(y, minlength=n_classes)[np.unique(y)].min()))
    if folds < 2:
        return None
    out_of_fold = np.zeros((len(y), n_classes))
    splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
    for fit_rows, held_out in splitter.split(np.zeros(len(y)), y, data.groups):
        features, model = _fit_logistic(data.subset(fit_rows), vocab_size, settings)
        out_of_fold[held_out] = _class_logits(model, _features(features, data.subset(held_out)), n_classes)
    return out_of_fold


def choose_maybe_shift(out_of_fold: np.ndarray | None, labels: np.ndarray, settings: AnswerFitSettings) -> dict:
    """The "maybe" logit shift with the best accuracy + macro-F1 (ties: the smaller shift) on the out-of-fold
    logits of the training questions. {"shift", "cv_acc", "cv_macro_f1"}."""
    from sklearn.metrics import accuracy_score, f1_score

    n_classes = 0 if out_of_fold is None else out_of_fold.shape[1]
    if n_classes <= MAYBE:
        return {"shift": 0.0, "cv_acc": None, "cv_macro_f1": None}
    best = None
    for shift in settings.maybe_shifts:
        predicted = (out_of_fold + np.eye(n_classes)[MAYBE] * shift).argmax(1)
        macro_f1 = f1_score(labels, predicted, average="macro", labels=range(n_classes), zero_division=0)
        accuracy = accuracy_score(labels, predicted)
        if best is None or accuracy + macro_f1 > best["cv_acc"] + best["cv_macro_f1"]:
            best = {"shift": float(shift), "cv_acc": float(accuracy), "cv_macro_f1": float(macro_f1)}
    return best


@dataclass(frozen=True)
class PriorFit:
    """What `fit_answer_prior` chose (the "maybe" shift, with the prior's cross-validated figures) and the
    training questions' out-of-fold logits, shift included (None without folds), for stacked training."""

    shift: float
    cv_acc: float | None
    cv_macro_f1: float | None
    out_of_fold: np.ndarray | None


def fit_answer_prior(prior: AnswerPrior, data: QATrainingSet, settings: AnswerFitSettings = AnswerFitSettings(),
                     seed: int = 0) -> PriorFit:  # fmt: skip
    """Fit `prior` in place on the training questions only: idf weights, the logistic model (log-probabilities as
    logits) and the cross-validated "maybe" shift; also return the out-of-fold logits the shift was chosen on."""
    n_classes, vocab_size = prior.weight.shape[0], prior.features.vocab_size
    if len(data.labels) != len(data.groups) or len(data.labels) != len(data.lengths):
        raise DataError(f"answer prior: {len(data.labels)} training answers but {len(data.lengths)} passages and "
                        f"{len(data.groups)} abstracts; expected one of each per question")
    out_of_fold = out_of_fold_logits(data, vocab_size, n_classes, settings, seed)
    chosen = choose_maybe_shift(out_of_fold, data.labels, settings)
    features, model = _fit_logistic(data, vocab_size, settings)
    weight, bias = np.zeros((n_classes, prior.weight.shape[1])), np.full(n_classes, -30.0)
    coef, intercept = model.coef_, model.intercept_
    if len(model.classes_) == 2:  # scikit-learn's binary form: one row for the second class
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
    weight[model.classes_], bias[model.classes_] = coef, intercept
    if n_classes > MAYBE:
        bias[MAYBE] += chosen["shift"]
    with torch.no_grad():
        prior.features.idf.copy_(features.idf)
        prior.weight.copy_(torch.from_numpy(weight))
        prior.bias.copy_(torch.from_numpy(bias))
    if out_of_fold is not None and n_classes > MAYBE:
        out_of_fold[:, MAYBE] += chosen["shift"]
    return PriorFit(chosen["shift"], chosen["cv_acc"], chosen["cv_macro_f1"], out_of_fold)


class StackedTrainingSet(Dataset):
    """The training questions' batches with each question's out-of-fold prior logits (`prior_logits`, (B, C)): the
    network trains on top of what the prior says of questions it was not fitted on, as it will see it for new
    questions (stacking, Wolpert 1992), instead of on the prior's in-sample logits."""

    def __init__(self, questions: Dataset, prior_logits: np.ndarray) -> None:
        if len(prior_logits) != len(questions):
            raise DataError(f"stacked training: {len(prior_logits)} prior logits for {len(questions)} questions")
        self.questions = questions
        self.prior_logits = torch.as_tensor(prior_logits, dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.questions)

    def __getitems__(self, indices) -> dict:
        return {**self.questions.__getitems__(indices), "prior_logits": self.prior_logits[torch.as_tensor(indices)]}
