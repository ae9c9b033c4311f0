"""The learned answer prior (PubMedQA): its TF-IDF features, the fit on training questions only, the "maybe" shift,
how it joins the network's logits, safe checkpoint loading, and that the long answer is never an input."""

from __future__ import annotations

import io
import json

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from meddl.data.batching import build_tokenizer, text_dataset
from meddl.models import create
from meddl.models.answer_model import (AnswerFeatures, AnswerPrior, QATrainingSet, StackedTrainingSet,
                                       fit_answer_prior)
from meddl.tasks.sequence.task import _fit_answer_prior

VOCAB = 12  # ids 4-6: "no effect" words, 7-8: "effect" words, 9: "unclear", 10-11: filler


def _questions(rng: np.random.Generator, n: int) -> QATrainingSet:
    """yes (0) answers use ids 7-8, no (1) ids 4-6, maybe (2) id 9, each three times among filler."""
    labels = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    cues = {0: [7, 8], 1: [4, 5, 6], 2: [9]}
    texts = []
    for label in labels:
        words = rng.choice([10, 11], size=rng.integers(20, 40)).tolist()
        for _ in range(3):
            words.insert(int(rng.integers(0, len(words))), int(rng.choice(cues[int(label)])))
        texts.append(torch.tensor(words))
    question = torch.full((n, 3), 10)
    return QATrainingSet(pad_sequence(texts, batch_first=True), torch.tensor([len(t) for t in texts]), question,
                         torch.full((n,), 3), labels, [f"doc{i}" for i in range(n)])


def _logits(prior: AnswerPrior, data: QATrainingSet) -> torch.Tensor:
    return prior(data.tokens, data.lengths, data.question, data.question_lengths)


def test_features_count_real_tokens_and_the_tail_block_only_the_last_ones():
    features = AnswerFeatures(vocab_size=VOCAB, tail_tokens=2)
    tokens = torch.tensor([[4, 1, 7, 7, 0, 0]])  # <unk> (1) and padding (0) never count
    out = features(tokens, torch.tensor([4]), torch.tensor([[10, 0]]), torch.tensor([1]))
    question, passage, tail = out.view(3, VOCAB)
    assert question.nonzero().flatten().tolist() == [10]
    assert passage.nonzero().flatten().tolist() == [4, 7] and passage[7] > passage[4]  # sublinear tf: 1 + log 2
    assert tail.nonzero().flatten().tolist() == [7]  # the last two real tokens: <unk>, 7
    torch.testing.assert_close(out.view(3, VOCAB).norm(dim=1), torch.ones(3))


def test_fitted_prior_answers_from_the_learned_words_and_predicts_maybe():
    rng = np.random.default_rng(0)
    prior = AnswerPrior(VOCAB, n_classes=3, tail_tokens=8)
    chosen = fit_answer_prior(prior, _questions(rng, 150))
    assert 0 <= chosen.shift <= 3 and chosen.cv_acc > 0.9
    new = _questions(rng, 100)
    predicted = _logits(prior, new).argmax(1).numpy()
    assert (predicted == new.labels).mean() > 0.9
    assert (predicted == 2).sum() > 0  # "maybe" is predicted where it is right
    weight = prior.weight.view(3, 3, VOCAB)  # (class, block, word)
    assert weight[1, 1, 4:7].min() > weight[0, 1, 4:7].max()  # "no" learned its words from the labels alone


def test_a_class_absent_from_training_is_never_predicted():
    data = _questions(np.random.default_rng(1), 80)
    keep = np.flatnonzero(data.labels != 2)
    prior = AnswerPrior(VOCAB, n_classes=3, tail_tokens=8)
    fit_answer_prior(prior, data.subset(keep))
    assert (_logits(prior, data).argmax(1) != 2).all()


def _pair_data(seed: int = 0):
    """A synthetic PubMedQA-format data set: the task's text example with questions."""
    from meddl.tasks.sequence.task import SequenceTask

    data = SequenceTask().example_data(seed)
    data.questions = {split: [f"does it work {i % 3}" for i in range(len(texts))] for split, texts in data.texts.items()}
    return data


def _pair_module(tokenizer):
    from meddl.tasks.sequence.module import SequenceClassifier

    return SequenceClassifier(model="bilstm-attention", kind="text", task="multi-class", labels=["a", "b"],
                              model_kwargs={"vocab_size": tokenizer.vocab_size, "pair": True,
                                            "answer_prior": {"tail_tokens": 8}}, tokenizer=tokenizer.to_dict())


def test_out_of_fold_logits_never_come_from_a_fold_that_held_the_question():
    """Random answers, told by one word shared by the two questions of each abstract: a prior fitted with the
    question (or with the other question of its abstract) would recall the answer; out of fold it cannot."""
    rng = np.random.default_rng(3)
    n_docs, vocab = 60, 80
    labels = np.repeat(rng.choice(3, size=n_docs), 2)
    texts = [torch.tensor([10 + i // 2, 4, 5]) for i in range(2 * n_docs)]  # ids 10-69: one word per abstract
    data = QATrainingSet(pad_sequence(texts, batch_first=True), torch.full((2 * n_docs,), 3),
                         torch.full((2 * n_docs, 2), 6), torch.full((2 * n_docs,), 2), labels,
                         [f"doc{i // 2}" for i in range(2 * n_docs)])
    prior = AnswerPrior(vocab, n_classes=3, tail_tokens=2)
    fit = fit_answer_prior(prior, data)
    in_sample = _logits(prior, data).argmax(1).numpy()
    assert (in_sample == labels).mean() > 0.9  # the final prior memorises its training questions
    assert fit.out_of_fold.shape == (len(labels), 3)
    assert (fit.out_of_fold.argmax(1) == labels).mean() < 0.6  # out of fold: no memory of the question or its twin
    stacked = StackedTrainingSet(text_dataset_like(data), fit.out_of_fold)
    batch = stacked.__getitems__([5, 2])
    torch.testing.assert_close(batch["prior_logits"], torch.as_tensor(fit.out_of_fold[[5, 2]], dtype=torch.float32))
    assert batch["labels"].tolist() == labels[[5, 2]].tolist()


def text_dataset_like(data: QATrainingSet):
    from meddl.data.batching import TokenDataset

    return TokenDataset(list(data.tokens), data.labels, 0, list(data.question))


def test_the_fit_reads_the_training_questions_only():
    data = _pair_data()
    tokenizer = build_tokenizer(data)
    train_set = text_dataset(data, "train", tokenizer, data.options.max_tokens)

    def fitted(splits) -> dict:
        module = _pair_module(tokenizer)
        _fit_answer_prior(module, splits, train_set, seed=0)
        return module.net.answer_prior.state_dict()

    before = fitted(data)
    for split in ("val", "test"):  # other labels and texts in val and test change nothing
        data.labels[split] = 1 - data.labels[split]
        data.texts[split] = ["results methods"] * len(data.texts[split])
    after = fitted(data)
    assert all(torch.equal(before[key], after[key]) for key in before)
    data.labels["train"] = 1 - data.labels["train"]  # while the training labels decide the fit
    train_set = text_dataset(data, "train", tokenizer, data.options.max_tokens)
    assert not torch.equal(fitted(data)["weight"], before["weight"])


def test_the_long_answer_is_never_read_as_input(tmp_path):
    """PubMedQA files with and without their LONG_ANSWER give the same inputs, hence the same predictions."""
    from meddl.data.text import load_qa

    rng = np.random.default_rng(0)
    entries = {}
    for pmid in range(40):
        answer = ["yes", "no", "maybe"][pmid % 3]
        entries[str(pmid)] = {"QUESTION": f"does drug {pmid % 5} help?",
                              "CONTEXTS": [" ".join(rng.choice(["rates", "fell", "rose", "patients"], 12)), answer],
                              "LABELS": ["METHODS", "RESULTS"], "LONG_ANSWER": f"zebraword {answer} conclusion",
                              "final_decision": answer}
    texts = {}
    for name, blank in (("with", False), ("blank", True)):
        folder = tmp_path / name / "pubmedqa"
        folder.mkdir(parents=True)
        shown = {p: {**e, "LONG_ANSWER": "" if blank else e["LONG_ANSWER"]} for p, e in entries.items()}
        (folder / "ori_pqal.json").write_text(json.dumps(shown))
        (folder / "test_ground_truth.json").write_text(json.dumps({str(p): "yes" for p in range(30, 40)}))
        data = load_qa(tmp_path / name, seed=0)
        texts[name] = (data.texts, data.questions)
        assert not any("zebraword" in text for split in data.texts.values() for text in split)
    assert texts["with"] == texts["blank"]


def test_the_prior_joins_the_logits_and_reloads_from_a_safe_checkpoint():
    torch.manual_seed(0)
    data = _questions(np.random.default_rng(2), 60)
    net = create("bilstm-attention", 1, 3, vocab_size=VOCAB, pair=True, answer_prior={"tail_tokens": 8}).eval()
    fit_answer_prior(net.answer_prior, data)
    inputs = (data.tokens[:5], data.lengths[:5])
    question = {"question": data.question[:5], "question_lengths": data.question_lengths[:5]}
    without = create("bilstm-attention", 1, 3, vocab_size=VOCAB, pair=True).eval()
    without.load_state_dict(net.state_dict(), strict=False)
    expected = without(*inputs, **question) + net.answer_prior(*inputs, *question.values())
    torch.testing.assert_close(net(*inputs, **question), expected)
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    buffer.seek(0)
    again = create("bilstm-attention", 1, 3, vocab_size=VOCAB, pair=True, answer_prior={"tail_tokens": 8}).eval()
    again.load_state_dict(torch.load(buffer, weights_only=True))
    torch.testing.assert_close(again(*inputs, **question), net(*inputs, **question))
