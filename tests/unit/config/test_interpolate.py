"""``${VAR}`` interpolation of a parsed routes file."""

from __future__ import annotations

import pytest

from kafkahooks.config.interpolate import InterpolationError, interpolate


def test_variable_is_replaced_from_the_environment() -> None:
    tree = {"kafka": {"bootstrap_servers": "${BOOT}"}}
    assert interpolate(tree, {"BOOT": "k1:9092"}) == {"kafka": {"bootstrap_servers": "k1:9092"}}


def test_variable_inside_text_and_several_per_string() -> None:
    out = interpolate("https://${HOST}:${PORT}/hooks", {"HOST": "api.example", "PORT": "8443"})
    assert out == "https://api.example:8443/hooks"


def test_default_is_used_only_when_the_variable_is_unset() -> None:
    assert interpolate("${MISSING:-fallback}", {}) == "fallback"
    assert interpolate("${SET:-fallback}", {"SET": "real"}) == "real"
    assert interpolate("${EMPTY_DEFAULT:-}", {}) == ""


def test_set_but_empty_variable_wins_over_the_default() -> None:
    assert interpolate("${SET:-fallback}", {"SET": ""}) == ""


def test_double_dollar_escapes_a_literal_placeholder() -> None:
    assert interpolate("price $${AMOUNT}", {"AMOUNT": "9"}) == "price ${AMOUNT}"


def test_template_placeholders_and_non_strings_are_untouched() -> None:
    tree = {"template": {"s": "{{ value.status }}", "n": 3, "b": True, "x": None}}
    assert interpolate(tree, {}) == tree


def test_values_from_the_environment_are_not_structure() -> None:
    # a value that looks like YAML stays one string
    assert interpolate({"a": "${V}"}, {"V": "{b: 1}"}) == {"a": "{b: 1}"}


def test_lists_are_interpolated() -> None:
    assert interpolate({"topics": ["${T}", "other"]}, {"T": "calls"}) == {
        "topics": ["calls", "other"]
    }


def test_missing_variable_names_the_variable_and_the_path() -> None:
    tree = {"routes": [{"name": "a"}, {"signing": {"secret": "${HOOK_SECRET}"}}]}
    with pytest.raises(InterpolationError) as caught:
        interpolate(tree, {})
    assert caught.value.variable == "HOOK_SECRET"
    assert caught.value.path == ("routes", 1, "signing", "secret")
    assert "HOOK_SECRET" in str(caught.value)
