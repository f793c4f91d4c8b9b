"""The nesting scan agrees with the real parser's structure, on any JSON, and stays linear on hostile text."""

from __future__ import annotations

import json

import hypothesis.strategies as st
from hypothesis import given, settings

from server.web.nesting import MAX_JSON_DEPTH, nesting_depth, too_deep


def parsed_depth(value: object) -> int:
    """The oracle: depth of the value json.loads returns (arrays and objects count, scalars do not)."""
    if isinstance(value, list):
        return 1 + max((parsed_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((parsed_depth(v) for v in value.values()), default=0)
    return 0


tricky_text = st.text(alphabet='[]{}"\\,:ab\u00e9\U0001f600\n', max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(value=json_values, ascii_only=st.booleans(), encoding=st.sampled_from(["utf-8", "utf-16", "utf-32"]))
def test_depth_equals_the_parsed_structure(value, ascii_only, encoding):
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert nesting_depth(text) == parsed_depth(json.loads(text))
    assert nesting_depth(text.encode(encoding)) == parsed_depth(value)  # json.loads reads these encodings too


def test_the_limit_is_named_and_a_body_at_the_limit_passes():
    at_limit = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert too_deep(at_limit) is None
    message = too_deep("[" + at_limit + "]")
    assert message is not None and f"at most {MAX_JSON_DEPTH} levels" in message and f"{MAX_JSON_DEPTH + 1}" in message


def test_brackets_inside_strings_do_not_count():
    assert nesting_depth(json.dumps({"a": "[" * 5000, "b": ['\\"{{{{']})) == 2


def test_hostile_text_is_scanned_in_one_pass():
    # Unterminated strings full of escaped quotes: a string pattern that could fail would restart at every
    # quote (quadratic: hours for this text). Finishing at all is the check.
    assert nesting_depth('"' + '\\"[' * 300_000) == 0
    assert nesting_depth('"a' * 300_001 + "[[[") == 0  # an odd quote count: the last string runs to the end
    assert nesting_depth('"a' * 300_000 + "[[[") == 3
    assert nesting_depth("[" * 2_000_000) == 2_000_000
