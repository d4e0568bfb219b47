from datetime import date

import pytest

from domain.errors import InvalidInput
from domain.identifiers import (
    compose_resident_id,
    holder_stream_id,
    mask_resident_id,
    resident_id_check_char,
    validate_card_number,
    validate_resident_id,
)

# A published example of GB 11643-1999 (Beijing Dongcheng, born 1949-12-31).
KNOWN_VALID = "11010519491231002X"


def test_the_standards_example_passes_its_check_character():
    assert resident_id_check_char(KNOWN_VALID[:17]) == "X"
    assert validate_resident_id(KNOWN_VALID) == KNOWN_VALID


def test_a_lower_case_x_is_accepted_and_canonicalised():
    assert validate_resident_id(KNOWN_VALID.lower()) == KNOWN_VALID


@pytest.mark.parametrize("position", range(17))
def test_changing_any_digit_breaks_the_check_character(position):
    digits = list(KNOWN_VALID)
    digits[position] = str((int(digits[position]) + 1) % 10)
    with pytest.raises(InvalidInput):
        validate_resident_id("".join(digits))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("11010519491231002", "must be 18 characters, got 17"),
        ("1101051949123100211", "must be 18 characters, got 19"),
        ("110105194912310A2X", "first 17 characters must be the digits 0-9"),
        ("11010519491231002Y", "check character .* must be 0-9 or X"),
        ("١١٠١٠٥١٩٤٩١٢٣١٠٠٢X", "first 17 characters must be the digits 0-9"),
        ("110105205012310025", "impossible birth date"),
        ("110105194902300021", "impossible birth date"),
        ("110105180001010021", "impossible birth date"),
        ("110105194912310021", "fails its check character"),
    ],
)
def test_malformed_resident_ids_are_refused_with_the_reason(value, reason):
    with pytest.raises(InvalidInput, match=reason):
        validate_resident_id(value)


def test_a_failed_check_never_echoes_the_whole_number():
    with pytest.raises(InvalidInput) as caught:
        validate_resident_id("110105194912310021")
    assert "110105194912310021" not in str(caught.value)


def test_composed_ids_are_valid():
    rid = compose_resident_id("440203", date(2001, 2, 28), 7)
    assert validate_resident_id(rid) == rid


def test_masking_hides_birth_date_and_sequence():
    assert mask_resident_id(KNOWN_VALID) == "110105***********X"


@pytest.mark.parametrize("value", ["A1234567", "A123456789", "A1234567!", "a12345678 x"])
def test_card_numbers_have_nine_letters_or_digits(value):
    with pytest.raises(InvalidInput):
        validate_card_number(value)


def test_card_numbers_are_upper_cased():
    assert validate_card_number("a12345678") == "A12345678"


def test_holder_stream_ids_are_stable_per_key_and_differ_across_keys():
    first = holder_stream_id(KNOWN_VALID, b"k" * 16)
    assert first == holder_stream_id(KNOWN_VALID, b"k" * 16)
    assert first != holder_stream_id(KNOWN_VALID, b"j" * 16)
