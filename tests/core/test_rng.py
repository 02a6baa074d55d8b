"""`harness.rng.GenRandom`: the same values as `random.Random`, and rolled-back draws leave no trace."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.rng import GenRandom

DRAWS = {
    "random": lambda r: r.random(),
    "bits7": lambda r: r.getrandbits(7),
    "bits32": lambda r: r.getrandbits(32),
    "bits70": lambda r: r.getrandbits(70),
    "randrange": lambda r: r.randrange(1000),
    "choice": lambda r: r.choice("abcdefg"),
    "uniform": lambda r: r.uniform(2, 5),
    "sample": lambda r: tuple(r.sample(range(50), 4)),
    "shuffle": lambda r: (lambda x: (r.shuffle(x), tuple(x))[1])(list(range(9))),
}
draw_names = st.sampled_from(sorted(DRAWS))


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32), script=st.lists(
    st.tuples(st.lists(draw_names, max_size=5), st.sampled_from(["commit", "rollback", "unarmed"])), max_size=30))
def test_committed_draws_are_those_of_random_random(seed: int, script: list[tuple[list[str], str]]) -> None:
    """Whatever is drawn and taken back in between, the draws that count are exactly the plain stream's."""
    ours, plain = GenRandom(seed), random.Random(seed)
    for names, end in script:
        if end != "unarmed":
            ours.checkpoint()
        got: list[Any] = [DRAWS[n](ours) for n in names]
        if end == "rollback":
            ours.rollback()
            continue
        if end == "commit":
            ours.commit()
        assert got == [DRAWS[n](plain) for n in names]
    tail = [DRAWS[n](ours) for n in sorted(DRAWS)]
    assert tail == [DRAWS[n](plain) for n in sorted(DRAWS)]


def test_asking_twice_gives_the_same_answer() -> None:
    r = GenRandom(3)
    r.checkpoint()
    first = (r.randrange(10**9), r.random(), r.choice(range(77)))
    r.rollback()
    r.checkpoint()
    again = (r.randrange(10**9), r.random(), r.choice(range(77)))
    r.commit()
    assert first == again
    assert (r.randrange(10**9), r.random()) != first[:2]
