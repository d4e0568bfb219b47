import pytest

from domain.errors import InvalidInput
from domain.region_policy import LapseOutcome, ProxyDocument, RegionPolicies


def test_regions_differ_where_practice_differs():
    policies = RegionPolicies.packaged()
    shanghai = policies.policy_for("310000")
    shaoguan = policies.policy_for("440200")
    jiangxi = policies.policy_for("360000")
    assert (shanghai.lapse_days, shanghai.lapse_outcome) == (5, LapseOutcome.UNBLOCK)
    assert (shaoguan.lapse_days, shaoguan.lapse_outcome) == (15, LapseOutcome.CANCEL)
    assert jiangxi.replacement_fee_fen == 3200
    assert jiangxi.production_working_days == 30
    assert (
        ProxyDocument.POWER_OF_ATTORNEY in policies.policy_for("110000").proxy.required_documents()
    )


def test_a_district_inherits_its_city_or_province_policy():
    policies = RegionPolicies.packaged()
    assert policies.policy_for("110105").name == "Beijing"
    assert policies.policy_for("510104").name == "Chengdu"
    assert policies.policy_for("360102").name == "Jiangxi"


def test_an_unknown_region_is_refused_by_name():
    with pytest.raises(InvalidInput, match="unknown region 990000"):
        RegionPolicies.packaged().policy_for("990000")


def test_a_malformed_policy_file_is_refused_with_its_source(tmp_path):
    path = tmp_path / "regions.json"
    path.write_text('{"regions": [{"region_code": "110000", "name": "x", "lapse_days": 0}]}')
    with pytest.raises(InvalidInput, match=str(path)):
        RegionPolicies.from_file(path)


def test_a_region_configured_twice_is_refused():
    region = (
        '{"region_code": "110000", "name": "B", "lapse_days": 5, "lapse_outcome": "unblock",'
        ' "production_working_days": 15, "replacement_fee_fen": 2000}'
    )
    with pytest.raises(InvalidInput, match="configured twice"):
        RegionPolicies.from_json(f'{{"regions": [{region}, {region}]}}')


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            '{"regions": [{"region_code": "110000", "name": "x", "lapse_days": 0}]}',
            "region policy file p.json is invalid at regions.0.lapse_days: "
            "Input should be greater than or equal to 1",
        ),
        (
            "[]",
            "region policy file p.json is invalid at top level: Input should be a valid "
            "dictionary or instance of RegionPolicies",
        ),
        (
            "{",
            "region policy file p.json is invalid: Expecting property name enclosed in double "
            "quotes: line 1 column 2 (char 1)",
        ),
    ],
)
def test_a_bad_policy_file_is_refused_with_where_and_why(text, reason):
    with pytest.raises(InvalidInput) as caught:
        RegionPolicies.from_json(text, source="p.json")
    assert str(caught.value) == reason


def test_a_policy_text_without_a_source_is_called_a_string():
    with pytest.raises(InvalidInput, match=r"^region policy file <string> is invalid: "):
        RegionPolicies.from_json("{")
