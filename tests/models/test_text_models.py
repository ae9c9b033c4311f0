"""bilstm-attention, passage-bilstm and lstm-lm: shapes, padding and batch invariance, weight tying, and that they
learn a toy task."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pad_sequence

from meddl.errors import ConfigError
from meddl.models import registry

VOCAB = 30


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def padded(sequences: list[list[int]], extra: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences padded with id 0 to the longest plus `extra`, and their lengths."""
    tensors = [torch.tensor(s) for s in sequences]
    batch = pad_sequence(tensors, batch_first=True, padding_value=0)
    batch = torch.nn.functional.pad(batch, (0, extra))
    return batch, torch.tensor([len(s) for s in sequences])


def random_sequences(n: int, seed: int) -> list[list[int]]:
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 12, (n,), generator=generator)
    return [torch.randint(4, VOCAB, (int(length),), generator=generator).tolist() for length in lengths]


def test_registered_in_their_families():
    assert registry.model_info("bilstm-attention").family == "text"
    assert registry.model_info("lstm-lm").family == "language-model"


def classify(net, texts, questions, extra: int, question_extra: int) -> torch.Tensor:
    tokens, lengths = padded(texts, extra)
    if questions is None:
        return net(tokens, lengths=lengths)
    question, question_lengths = padded(questions, question_extra)
    return net(tokens, lengths=lengths, question=question, question_lengths=question_lengths)


@pytest.mark.parametrize("pair", [False, True])
def test_classifier_outputs_do_not_depend_on_padding(pair):
    torch.manual_seed(0)
    net = registry.create("bilstm-attention", 1, 3, vocab_size=VOCAB, embed_dim=16, hidden=8, layers=2,
                          pair=pair).eval()
    texts, questions = random_sequences(5, 0), random_sequences(5, 1) if pair else None
    short = classify(net, texts, questions, 0, 7)
    assert short.shape == (5, 3)
    torch.testing.assert_close(classify(net, texts, questions, 7, 0), short)
    alone = classify(net, texts[:1], questions[:1] if pair else None, 0, 0)
    torch.testing.assert_close(alone[0], short[0])  # the rest of the batch changes nothing either


def test_pair_model_needs_the_question_and_plain_model_refuses_it():
    tokens, lengths = padded(random_sequences(2, 0))
    pair = registry.create("bilstm-attention", 1, 3, vocab_size=VOCAB, pair=True)
    with pytest.raises(ValueError, match="needs question"):
        pair(tokens, lengths=lengths)
    plain = registry.create("bilstm-attention", 1, 3, vocab_size=VOCAB)
    with pytest.raises(ValueError, match="takes no question"):
        plain(tokens, lengths=lengths, question=tokens, question_lengths=lengths)


def test_classifier_learns_which_token_a_sequence_holds():
    torch.manual_seed(0)
    sequences = random_sequences(64, 2)
    labels = torch.tensor([int(5 in s) for s in sequences])
    tokens, lengths = padded(sequences)
    net = registry.create("bilstm-attention", 1, 2, vocab_size=VOCAB, embed_dim=16, hidden=16, dropout=0.0)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(tokens, lengths=lengths), labels)
        loss.backward()
        optimiser.step()
    accuracy = (net.eval()(tokens, lengths=lengths).argmax(1) == labels).float().mean()
    assert accuracy > 0.95


def tag(net, documents: list[list[list[int]]], extra: int = 0) -> torch.Tensor:
    """passage-bilstm logits for documents (lists of passages), flattened passage by passage."""
    passages = [p for document in documents for p in document]
    tokens, lengths = padded(passages, extra)
    index = torch.repeat_interleave(torch.arange(len(documents)), torch.tensor([len(d) for d in documents]))
    relative = torch.cat([torch.linspace(0, 1, len(d)) for d in documents])
    positions = torch.stack([relative] + [torch.zeros_like(relative)] * 4, dim=1)
    return net(tokens, lengths=lengths, positions=positions, documents=index)


def test_passage_tagger_reads_each_document_alone_whatever_the_batch():
    torch.manual_seed(0)
    net = registry.create("passage-bilstm", 1, 5, vocab_size=VOCAB, embed_dim=16, hidden=8, context_hidden=8,
                          bag_dim=4).eval()
    assert registry.model_info("passage-bilstm").family == "text" and net.reads_documents
    documents = [random_sequences(3, 0), random_sequences(1, 1), random_sequences(4, 2)]
    together = tag(net, documents)
    assert together.shape == (8, 5)
    torch.testing.assert_close(tag(net, documents, extra=5), together)  # padding changes nothing
    torch.testing.assert_close(tag(net, documents[2:]), together[4:])  # nor do the other documents
    torch.testing.assert_close(tag(net, documents[::-1])[:4], together[4:])
    with pytest.raises(ValueError, match="together and in order"):
        tokens, lengths = padded(documents[0])
        net(tokens, lengths=lengths, positions=torch.zeros(3, 5), documents=torch.tensor([1, 0, 1]))


def test_passage_tagger_learns_from_the_neighbouring_passage():
    """Each passage's label is the first token of the passage before it: only the context LSTM can know it."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(3)
    documents = [[[int(t)] + [9] * 3 for t in torch.randint(1, 3, (4,), generator=generator)] for _ in range(48)]
    labels = torch.tensor([0 if i == 0 else d[i - 1][0] for d in documents for i in range(len(d))])
    net = registry.create("passage-bilstm", 1, 3, vocab_size=VOCAB, embed_dim=16, hidden=16, context_hidden=16,
                          bag_dim=0, dropout=0.0)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(80):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(tag(net, documents), labels).backward()
        optimiser.step()
    assert (tag(net.eval(), documents).argmax(1) == labels).float().mean() > 0.95


@pytest.mark.parametrize(("embed_dim", "hidden"), [(16, 16), (16, 24)])
def test_lm_ties_weights_with_or_without_projection(embed_dim, hidden):
    net = registry.create("lstm-lm", 1, VOCAB, vocab_size=VOCAB, embed_dim=embed_dim, hidden=hidden)
    assert net.decoder.weight is net.embedding.weight
    assert isinstance(net.projection, torch.nn.Linear) == (embed_dim != hidden)
    untied = registry.create("lstm-lm", 1, VOCAB, vocab_size=VOCAB, embed_dim=embed_dim, hidden=hidden,
                             tie_weights=False)
    assert untied.decoder.weight is not untied.embedding.weight and untied.decoder.in_features == hidden


def test_lm_shapes_state_and_right_padding():
    torch.manual_seed(0)
    net = registry.create("lstm-lm", 1, VOCAB, vocab_size=VOCAB, embed_dim=16, hidden=32, layers=2).eval()
    tokens = torch.randint(4, VOCAB, (3, 9))
    logits, state = net(tokens, state=None)
    assert logits.shape == (3, 9, VOCAB) and state[0].shape == (2, 3, 32)
    padded_logits, _ = net(torch.nn.functional.pad(tokens, (0, 5)), state=None)
    torch.testing.assert_close(padded_logits[:, :9], logits)  # padding after a text never changes its predictions
    head, middle = net(tokens[:, :4], state=None)
    tail, _ = net(tokens[:, 4:], state=middle)
    torch.testing.assert_close(torch.cat([head, tail], dim=1), logits)  # carrying the state = one long pass


def test_lm_learns_a_repeating_sequence():
    torch.manual_seed(0)
    stream = torch.tensor([4, 5, 6, 7, 8] * 20)
    inputs, targets = stream[:-1].view(3, 33), stream[1:].view(3, 33)
    net = registry.create("lstm-lm", 1, VOCAB, vocab_size=VOCAB, embed_dim=16, hidden=32, dropout=0.0)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(80):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(inputs, state=None)[0].reshape(-1, VOCAB), targets.reshape(-1))
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.1  # perplexity near 1 on a deterministic sequence


def test_bad_sizes_are_config_errors():
    with pytest.raises(ConfigError, match="vocab_size"):
        registry.create("bilstm-attention", 1, 3)
    with pytest.raises(ConfigError, match="num_classes .* must equal vocab_size"):
        registry.create("lstm-lm", 1, 10, vocab_size=VOCAB)
