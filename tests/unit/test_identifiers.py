import re
import uuid
from datetime import date

import pytest
from pydantic import TypeAdapter

from domain.errors import InvalidInput
from domain.identifiers import (
    OutletCode,
    _schema,
    _shaped,
    birth_date_of,
    compose_resident_id,
    holder_stream_id,
    mask_name,
    mask_resident_id,
    resident_id_check_char,
    validate_card_number,
    validate_region_code,
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


def test_a_holder_stream_id_is_a_keyed_hash_that_never_changes():
    # Pinned: a change to the derivation would orphan every stored stream.
    stream_id = holder_stream_id(KNOWN_VALID, b"k" * 16)
    assert stream_id == uuid.UUID("52bc8a1b-6a4d-5316-8c22-d6d1cec1837a")
    assert stream_id.version == 5


def test_the_first_birth_year_accepted_is_1900():
    born_1900 = compose_resident_id("110105", date(1900, 1, 1), 1)
    assert validate_resident_id(born_1900) == born_1900
    with pytest.raises(InvalidInput, match="impossible birth date 18991231"):
        validate_resident_id(compose_resident_id("110105", date(1899, 12, 31), 1))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("11010519491231002", "resident ID number must be 18 characters, got 17"),
        (
            "1101051949123100AX",
            "resident ID number: the first 17 characters must be the digits 0-9",
        ),
        # A full-width digit is a digit to Python's str.isdigit, never on an ID card.
        (
            "1101051949123100\uff12X",
            "resident ID number: the first 17 characters must be the digits 0-9",
        ),
        (
            "11010519491231002Y",
            "resident ID number: the check character (the 18th) must be 0-9 or X",
        ),
        ("110105194902300021", "resident ID number has an impossible birth date 19490230"),
        (
            "110105194912310021",
            "resident ID number 110105***********1 fails its check character (expected X, got 1)",
        ),
    ],
)
def test_a_refused_resident_id_says_exactly_why(value, reason):
    with pytest.raises(InvalidInput) as caught:
        validate_resident_id(value)
    assert str(caught.value) == reason


def test_the_check_character_needs_exactly_seventeen_digits():
    with pytest.raises(ValueError, match="argument 2 is longer than argument 1"):
        resident_id_check_char(KNOWN_VALID[:16])


def test_the_birth_date_is_read_from_the_number():
    assert birth_date_of(KNOWN_VALID) == date(1949, 12, 31)
    assert birth_date_of(compose_resident_id("440203", date(2001, 10, 5), 7)) == date(2001, 10, 5)


def test_masking_hides_everything_of_a_value_too_short_to_be_an_id():
    assert mask_resident_id("1234567") == "*******"
    assert mask_resident_id("12345678") == "123456*8"


def test_views_show_the_family_name_only():
    assert mask_name("张三丰") == "张**"
    assert mask_name("李") == "李*"
    assert mask_name("") == ""


@pytest.mark.parametrize(
    ("validate", "value", "reason"),
    [
        (validate_card_number, "A1", "card number 'A1' is not valid: 9 characters, digits or A-Z"),
        (
            validate_region_code,
            "99",
            "region code '99' is not valid: 6-digit administrative region code",
        ),
    ],
)
def test_a_malformed_identifier_is_named_with_what_it_should_be(validate, value, reason):
    with pytest.raises(InvalidInput) as caught:
        validate(value)
    assert str(caught.value) == reason


def test_outlet_codes_staff_ids_and_certificates_are_validated_with_their_shape():
    # These validators and their published schemas are built once, at import, by two helpers;
    # building one here checks the helpers themselves.
    shape = re.compile(r"^[A-Z]{3}$")
    validator = _shaped("outlet code", shape, "three capitals")
    assert validator.func(" ABC ") == "ABC"
    with pytest.raises(InvalidInput) as caught:
        validator.func("abc")
    assert str(caught.value) == "outlet code 'abc' is not valid: three capitals"
    assert _schema(shape, "an outlet").json_schema == {
        "type": "string",
        "pattern": "^[A-Z]{3}$",
        "description": "an outlet",
    }
    outlets = TypeAdapter(OutletCode)
    assert outlets.validate_python("BJ-DC-001") == "BJ-DC-001"
    with pytest.raises(InvalidInput, match="outlet code 'bj' is not valid"):
        outlets.validate_python("bj")
