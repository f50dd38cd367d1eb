"""Fuzzing every registered space's `parse`: only InvalidArchitecture escapes, in bounded time and memory,
with short messages; valid texts round-trip. Plus one regression test per input that once broke a parser."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archlatent import SPACES, InvalidArchitecture, get_space
from archlatent.spaces.base import quote

NAMES = SPACES.names()
#: ast warns about backslashes in quoted DARTS op names; the parser then refuses the name anyway.
pytestmark = pytest.mark.filterwarnings("ignore:invalid escape sequence")
#: Longest message a parser may raise: its own words plus at most ~200 quoted characters, twice.
MAX_MESSAGE = 700
#: Fragments that once broke a parser or sit at the edges of the grammars.
NASTY = [
    "\udc80", "\ud800", "\x00", "~", "|", "+", "+" * 3000, "-" * 3000, "(" * 300, "[" * 3000, "{" * 3000,
    "9" * 5000, "~" + "1" * 4400, "range(2, 100000000000000000000)", "range(2, 1000000000000)", "range(x)",
    "range(2, 6, 0)", "1e999", "NaN", "true", "null", "-1", "None", "()", "[]", "[[", "]]", '"', "'", ",", ":",
    "Genotype(", "lambda: 0", "0x" + "f" * 3580, "0o777", "1_0", "0b1", "[('sep_conv_3x3', 0)]", '{"matrix": [[0]], "ops": []}', "١", "\u00a0",
]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(name: str, text: str) -> None:
    """Parse `text`: either a valid genotype that round-trips or one short InvalidArchitecture."""
    space = get_space(name)
    try:
        g = space.parse(text)
    except InvalidArchitecture as err:
        assert len(str(err)) <= MAX_MESSAGE, str(err)[:300]
        return
    assert space.is_valid(g) and space.parse(space.format(g)) == g


@st.composite
def mutated(draw: st.DrawFn, name: str) -> str:
    """A valid text of space `name` after a few random edits (cut, insert, repeat, replace)."""
    space = get_space(name)
    text = space.format(space.sample(np.random.default_rng(draw(st.integers(0, 2**32 - 1)))))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 40)))
        payload = draw(st.one_of(st.sampled_from(NASTY), st.text(st.characters(exclude_categories=()), max_size=8)))
        kind = draw(st.sampled_from(["cut", "insert", "replace", "repeat"]))
        if kind == "cut":
            text = text[:i] + text[j:]
        elif kind == "insert":
            text = text[:i] + payload + text[i:]
        elif kind == "replace":
            text = text[:i] + payload + text[j:]
        else:
            text = text[:i] + text[i:j] * draw(st.integers(2, 300)) + text[j:]
    return text


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_mutated_valid_texts_raise_only_invalid_architecture(name: str, data: st.DataObject) -> None:
    _check(name, data.draw(mutated(name)))


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(text=st.text(st.characters(exclude_categories=()), max_size=300))
def test_random_text_raises_only_invalid_architecture(name: str, text: str) -> None:
    _check(name, text)


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(seed=st.integers(0, 2**32 - 1))
def test_valid_texts_round_trip(name: str, seed: int) -> None:
    space = get_space(name)
    g = space.sample(np.random.default_rng(seed))
    text = space.format(g)
    assert len(text) <= space.max_text_length
    assert space.parse(text) == g and space.format(space.parse(text)) == text
    assert space.parse(f"  {text}\n") == g


# -- regressions: each input below once raised something else, or ran out of time or memory -------------------
def _refused(name: str, text: str, match: str) -> None:
    with pytest.raises(InvalidArchitecture, match=match) as caught:
        get_space(name).parse(text)
    assert len(str(caught.value)) <= MAX_MESSAGE


@pytest.mark.parametrize("name", NAMES)
def test_surrogates_are_refused(name: str) -> None:
    text = get_space(name).format(get_space(name).sample(np.random.default_rng(0)))
    _refused(name, text[:5] + "\udc80" + text[5:], "not valid Unicode")  # was UnicodeEncodeError (darts)


@pytest.mark.parametrize("name", NAMES)
def test_text_longer_than_the_space_allows_is_refused_unread(name: str) -> None:
    space = get_space(name)
    _refused(name, space.format(space.sample(np.random.default_rng(0))) + " " * space.max_text_length, "at most")
    _refused(name, "x" * 10**6, f"1,000,000 characters; at most {space.max_text_length:,}")


def test_nb201_huge_edge_index() -> None:
    digits = "|nor_conv_3x3~" + "1" * 5000 + "|+|nor_conv_3x3~0|none~1|+|none~0|none~1|none~2|"
    _refused("nb201", digits, "at most 1,000")  # was ValueError: int() of a 5,000-digit string
    _refused("nb201", "|nor_conv_3x3~" + "0" * 900 + "7|+|skip_connect~0|none~1|+|none~0|none~1|none~2|", "earlier node")
    _refused("nb201", "|nor_conv_3x3~١|+|skip_connect~0|none~1|+|none~0|none~1|none~2|", "malformed nb201 edge")


def _darts(normal_concat: str) -> str:
    return f"Genotype(normal=[], normal_concat={normal_concat}, reduce=[], reduce_concat=[2,3,4,5])"


@pytest.mark.parametrize(
    "concat",
    [
        "range(2, 100000000000000000000)",  # was OverflowError
        "range(2, 1000000000000)",  # was MemoryError
        "range(2, 30000000)",  # took 30 s and 1.9 GB, and the message printed the whole list
        "range(2, 6, 0)",
        "range(2, 6, step=1)",
    ],
)
def test_darts_concat_ranges_are_checked_without_expanding(concat: str) -> None:
    _refused("darts", _darts(concat), "normal_concat must be")


def test_darts_unary_chains() -> None:
    _refused("darts", "Genotype(normal=" + "+" * 100_000 + "1)", "at most 4,000")  # was MemoryError
    _refused("darts", "Genotype(normal=" + "-" * 3900 + "1)", "malformed darts genotype text")  # RecursionError


def test_darts_long_literals_are_quoted_short() -> None:
    pairs = [("sep_conv_3x3", 0), ("sep_conv_3x3", 1)] * 4
    huge_input = repr(pairs).replace("0)", "9" * 300 + ")", 1)
    _refused("darts", f"Genotype(normal={huge_input}, normal_concat=[2,3,4,5], reduce=[], reduce_concat=[2,3,4,5])",
             r"node 2 takes input 9{40}\.\.\. \(300 characters\)")
    _refused("darts", _darts("[" + "2, " * 1300 + "]"), r"normal_concat must be .*\(3,9\d\d characters\)")


@pytest.mark.parametrize("literal", ["0x" + "f" * 3600, "-0x" + "f" * 3600, "0o" + "7" * 3500, "9" * 3500, "1" + "_0" * 1700])
@pytest.mark.parametrize("where", ["pair", "concat", "range"])
def test_darts_integers_too_long_to_print_are_refused_before_any_message_prints_them(literal: str, where: str) -> None:
    """Was ValueError: Exceeds the limit (4300 digits) for integer string conversion, raised by `quote`
    while it wrote the error message (43 of 971 fuzzed strings through `archlatent query`)."""
    pairs = repr([("sep_conv_3x3", 0), ("sep_conv_3x3", 1)] * 4)
    text = {
        "pair": f"Genotype(normal={pairs.replace('0)', literal + ')', 1)}, normal_concat=[2,3,4,5], reduce=[], "
                "reduce_concat=[2,3,4,5])",
        "concat": _darts(f"[2, 3, 4, {literal}]"),
        "range": _darts(f"range(2, {literal})"),
    }[where]
    _refused("darts", text, r"holds an integer of [\d,]+ bits \(at most 1024")


def test_quote_never_fails() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    nested: list = []
    for _ in range(100_000):
        nested = [nested]
    assert quote(int("f" * 4000, 16)) == "<an integer of 16,000 bits>"
    assert quote([1, int("f" * 4000, 16)]) == "<a list that cannot be printed (ValueError)>"
    assert quote(Broken()) == "<a Broken that cannot be printed (RuntimeError)>"
    assert quote(nested) == "<a list that cannot be printed (RecursionError)>"
    assert quote(10**4000).endswith("... (4,001 characters)")


def test_nb101_deep_nesting_and_long_integers() -> None:
    deep = '{"matrix": ' + "[" * 2000 + "]" * 2000 + ', "ops": ["input", "output"]}'
    _refused("nb101", deep, "nested too deeply")  # was RecursionError
    long_int = '{"matrix": [[0, ' + "1" * 4400 + '], [0, 0]], "ops": ["input", "output"]}'
    _refused("nb101", long_int, "not valid JSON")  # was ValueError: integer string too long
    long_op = '{"matrix": [[0, 1, 0], [0, 0, 1], [0, 0, 0]], "ops": ["input", "' + "x" * 9000 + '", "output"]}'
    _refused("nb101", long_op, "unknown nb101 op")
    _refused("darts", _darts("[2," * 300 + "]" * 300), "malformed darts genotype text")  # parser's MemoryError
