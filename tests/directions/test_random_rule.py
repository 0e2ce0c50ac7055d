"""The stand-in direction sets for generators without labelled faces."""

import torch

from directions.random_rule import random_rule_directions, save_random_rule_directions
from directions.direction_file import load_directions
from inversion.checkpoints import generator_identity


def test_random_rule_directions_are_seeded_unit_w_vectors_for_the_generator(fixture_generator, tmp_path):
    G = fixture_generator
    first = random_rule_directions(G, samples=200, seed=3)
    again = random_rule_directions(G, samples=200, seed=3)
    other = random_rule_directions(G, samples=200, seed=4)
    assert first.emotions == ("joy", "fear", "anger", "sadness", "disgust", "surprise")
    for e in first.emotions:
        v = first.get(e).vector
        assert torch.equal(v, again.get(e).vector)
        assert abs(float(v.norm()) - 1.0) < 1e-4
    assert not torch.equal(first.get("joy").vector, other.get("joy").vector)
    path = save_random_rule_directions(G, tmp_path / "d.pt", samples=200, seed=3)
    loaded = load_directions(path, generator_identity(G))
    assert torch.allclose(loaded.get("fear").vector, first.get("fear").vector)
