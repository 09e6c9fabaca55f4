"""Every param of every installed technique, property-tested with Hypothesis.

Whatever plugins are installed, each numeric param has bounds and a list param a size limit;
every value inside them is accepted (as the CLI's text and as a Python value) and comes back
unchanged, and every value outside them is refused with a KinterpError naming the option.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kinterp.errors import KinterpError
from kinterp.plugins import registry
from kinterp.settings.params import ParamSpec, convert, param_specs

SPECS = [
    pytest.param(spec, id=f"{name}.{spec.name}")
    for name, (technique, _) in sorted(registry().techniques.items())
    for spec in param_specs(technique.Params)
]
NUMERIC = [p for p in SPECS if p.values[0].item_kind in ("int", "float")]
LISTS = [p for p in SPECS if p.values[0].kind.startswith("list[")]
CHOICES = [p for p in SPECS if p.values[0].choices]
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def inside(spec: ParamSpec) -> st.SearchStrategy:
    """Values of one item that the bounds and choices allow."""
    if spec.choices:
        return st.sampled_from(spec.choices)
    if spec.item_kind == "int":
        return st.integers(int(math.ceil(spec.minimum)), int(math.floor(spec.maximum)))
    if spec.item_kind == "float":
        return st.floats(spec.minimum, spec.maximum, allow_nan=False, allow_infinity=False)
    if spec.item_kind == "bool":
        return st.booleans()
    words = st.text(alphabet=st.characters(min_codepoint=97, max_codepoint=122), min_size=1)
    # "none" and "all" name an optional param's default (parse_params), not a value
    return words.filter(lambda w: not (spec.optional and w in ("none", "all")))


def as_text(value) -> str:
    return repr(value) if isinstance(value, float) else str(value)


@pytest.mark.parametrize("spec", NUMERIC)
def test_every_numeric_param_is_bounded(spec):
    assert spec.minimum is not None and spec.maximum is not None, spec.option


@pytest.mark.parametrize("spec", LISTS)
def test_every_list_param_has_a_size_limit(spec):
    assert spec.max_items is not None, spec.option


@pytest.mark.parametrize("spec", SPECS)
def test_the_default_is_accepted(spec):
    assert convert(spec, spec.default) == spec.default


@pytest.mark.parametrize("spec", SPECS)
@SETTINGS
@given(data=st.data())
def test_values_inside_the_bounds_are_accepted(spec, data):
    if spec.kind.startswith("list["):
        most = min(spec.max_items or 8, 8)
        value = data.draw(st.lists(inside(spec), min_size=1, max_size=most))
        if spec.item_kind == "str":
            value = [v for v in value if "," not in v] or ["a"]
        text = ",".join(as_text(v) for v in value)
    else:
        value = data.draw(inside(spec))
        text = as_text(value)
    assert convert(spec, value) == value
    assert convert(spec, text) == value


@pytest.mark.parametrize("spec", NUMERIC)
@SETTINGS
@given(data=st.data())
def test_values_outside_the_bounds_are_refused(spec, data):
    beyond = data.draw(
        st.one_of(
            st.floats(max_value=spec.minimum, exclude_max=True, allow_nan=False),
            st.floats(min_value=spec.maximum, exclude_min=True, allow_nan=False),
            st.sampled_from([math.nan, math.inf, -math.inf]),
        )
    )
    if spec.item_kind == "int" and math.isfinite(beyond):
        beyond = math.floor(beyond) if beyond < spec.minimum else math.ceil(beyond)
        beyond = int(beyond) if abs(beyond) < 1e300 else beyond
    value = [beyond] if spec.kind.startswith("list[") else beyond
    with pytest.raises(KinterpError, match=spec.option):
        convert(spec, value)
    with pytest.raises(KinterpError, match=spec.option):
        convert(spec, as_text(beyond))


@pytest.mark.parametrize("spec", LISTS)
def test_too_many_items_are_refused(spec):
    good = spec.default if spec.default else None
    if good is None:
        return
    with pytest.raises(KinterpError, match="at most"):
        convert(spec, list(good) * (spec.max_items // len(good) + 1))


@pytest.mark.parametrize("spec", CHOICES)
@SETTINGS
@given(word=st.text(min_size=1).filter(lambda w: "," not in w and w.strip()))
def test_words_outside_the_choices_are_refused(spec, word):
    if word in spec.choices or word.strip().lower() in ("none", "all"):
        return
    value = [word] if spec.kind.startswith("list[") else word
    with pytest.raises(KinterpError, match=spec.option):
        convert(spec, value)
