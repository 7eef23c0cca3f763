import torch

from attnbench.data.tasks import EOS, PAD
from attnbench.training.decode import greedy_decode, score

T = torch.tensor


def test_exact_match_rules():
    target = T([[3, 4, EOS, PAD]] * 5)
    pred = T([
        [3, 4, EOS, PAD],  # right
        [3, 5, EOS, PAD],  # wrong token
        [3, EOS, PAD, PAD],  # stopped early
        [3, 4, 4, EOS],  # ran past the target's end
        [3, 4, 4, 4],  # never stopped
    ])
    scores = score(pred, target)
    assert scores.seq_correct.tolist() == [True, False, False, False, False]
    assert scores.tok_correct.tolist() == [3, 2, 1, 2, 2]
    assert scores.tok_total.tolist() == [3] * 5


def test_score_pads_the_shorter_side():
    assert score(T([[3, EOS]]), T([[3, EOS, PAD]])).seq_correct.item()
    assert not score(T([[3, 3, 3]]), T([[3, EOS]])).seq_correct.item()


class Scripted(torch.nn.Module):
    """A stand-in decoder that emits a fixed script per row, to check the loop itself."""

    def __init__(self, script):
        super().__init__()
        self.script = script  # (B, T)

    def encode(self, src):
        return None

    def start(self, encoded):
        return 0

    def step(self, prev, state, encoded):
        logits = torch.nn.functional.one_hot(self.script[:, state], 10).float()
        return type("S", (), {"logits": logits, "state": state + 1, "weights": None})


def test_greedy_stops_at_eos_and_pads_after_it():
    script = T([[5, EOS, 7, 7], [5, 6, 7, EOS]])
    decoded = greedy_decode(Scripted(script), torch.zeros(2, 3, dtype=torch.long), max_len=4)
    assert decoded.tokens.tolist() == [[5, EOS, PAD, PAD], [5, 6, 7, EOS]]


def test_greedy_stops_early_once_every_row_ended():
    script = T([[EOS, 9, 9, 9], [4, EOS, 9, 9]])
    model = Scripted(script)
    decoded = greedy_decode(model, torch.zeros(2, 2, dtype=torch.long), max_len=4)
    assert decoded.tokens.tolist() == [[EOS, PAD, PAD, PAD], [4, EOS, PAD, PAD]]
