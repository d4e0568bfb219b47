"""Break each rule of ``src/domain/cardholder/rules.py`` once and check the state machine fails.

Run from the repository root: ``.venv/bin/python tests/rule_inversions.py [name ...]``.

Each inversion is one plausible wrong rule (a scope swapped, a check dropped, ``<`` turned into
``<=``). It is applied to a scratch copy of the tree in a temporary directory, never to ``src/``,
and the oracle-driven state machine (``tests/unit/test_lifecycle_properties.py``, the suite's
derandomized profile) runs against that copy. An inversion the state machine passes on is a rule
the oracle does not pin down. The last line is ``caught=<c> missed=<m>``; the exit code is 1 when
one was missed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RULES = Path("src/domain/cardholder/rules.py")
STATE_MACHINE = "tests/unit/test_lifecycle_properties.py"

# name -> (the original text, exactly once in rules.py; the broken text). Not here: dropping
# SEALED from _REPLACEABLE. A card is sealed only between its collection and its activation,
# while its case is still open, and can_report_formally refuses an open case first, so no
# command can tell the difference (mutmut's mutants of that set are listed as equivalent).
INVERSIONS: dict[str, tuple[str, str]] = {
    "collect_checks_apply_scope": (
        "check_applicant(holder, collector, agent_resident_id, ProxyScope.COLLECT)",
        "check_applicant(holder, collector, agent_resident_id, ProxyScope.APPLY)",
    ),
    "report_checks_collect_scope": (
        "    check_applicant(holder, applicant, agent_resident_id, ProxyScope.APPLY)\n"
        '    _require_documents(identity_documents_for(applicant), identity_documents, "the '
        'identity check")\n    return holder.card\n\n\ndef check_applicant',
        "    check_applicant(holder, applicant, agent_resident_id, ProxyScope.COLLECT)\n"
        '    _require_documents(identity_documents_for(applicant), identity_documents, "the '
        'identity check")\n    return holder.card\n\n\ndef check_applicant',
    ),
    "damaged_checks_collect_scope": (
        "    check_applicant(holder, applicant, agent_resident_id, ProxyScope.APPLY)\n"
        '    _require_documents(identity_documents_for(applicant), identity_documents, "the '
        'identity check")\n    return holder.card\n\n\ndef damaged_card_fee',
        "    check_applicant(holder, applicant, agent_resident_id, ProxyScope.COLLECT)\n"
        '    _require_documents(identity_documents_for(applicant), identity_documents, "the '
        'identity check")\n    return holder.card\n\n\ndef damaged_card_fee',
    ),
    "agent_identity_ignored": (
        "if authorization.agent_resident_id == agent_resident_id and scope in",
        "if scope in",
    ),
    "agent_scope_ignored": (
        "if authorization.agent_resident_id == agent_resident_id and scope in authorization.scope:",
        "if authorization.agent_resident_id == agent_resident_id:",
    ),
    "lapse_due_before_deadline": (
        "if now < pre_report.lapses_at:",
        "if now <= pre_report.lapses_at:",
    ),
    "stale_lapse_version_ignored": (
        "if pre_report is None or pre_report.version != pre_report_version:",
        "if pre_report is None:",
    ),
    "elderly_threshold_inclusive": (
        "if age < rules.elderly_from_age:",
        "if age <= rules.elderly_from_age:",
    ),
    "age_ignores_birthday": (
        "return today.year - born.year - ((today.month, today.day) < (born.month, born.day))",
        "return today.year - born.year",
    ),
    "grounds_not_checked": (
        "if rules.allowed_grounds is not None and grounds not in rules.allowed_grounds:",
        "if False:",
    ),
    "mobility_proof_not_required": (
        "required.add(ProxyDocument.MOBILITY_PROOF)",
        "pass",
    ),
    "holder_may_be_own_agent": (
        "if agent_resident_id == holder.resident_id:",
        "if False:",
    ),
    "region_documents_not_required": (
        "required = set(rules.required_documents())",
        "required: set[ProxyDocument] = set()",
    ),
    "pre_report_twice": (
        "if holder.card.status is CardStatus.TEMPORARILY_LOST:",
        "if False:",
    ),
    "pre_report_during_case": (
        "    if holder.case is not None:\n        raise _case_under_way(holder.case)\n"
        "    if holder.card.status is CardStatus.TEMPORARILY_LOST:",
        "    if holder.card.status is CardStatus.TEMPORARILY_LOST:",
    ),
    "formal_report_cancelled": (
        "    if holder.case is not None:\n        raise FormalReportIrreversible(",
        "    if False:\n        raise FormalReportIrreversible(",
    ),
    "agent_documents_not_required": (
        "documents |= {ProxyDocument.AGENT_ID_ORIGINAL, ProxyDocument.AGENT_ID_COPY}",
        "pass",
    ),
    "holder_with_agent_id_accepted": (
        '            raise InvalidCommand("an agent ID number was given but the holder acts in '
        'person")',
        "            pass",
    ),
    "damaged_exchange_of_pre_reported_card": (
        "if holder.card.status is not CardStatus.NORMAL:\n        raise CardNotActive(\n"
        '            f"card {holder.card.number} is {holder.card.status.value}; only an active',
        "if holder.card.status not in _REPLACEABLE:\n        raise CardNotActive(\n"
        '            f"card {holder.card.number} is {holder.card.status.value}; only an active',
    ),
    "damaged_fee_inverted": (
        "if cause is DamageCause.WEAR_OR_ACCIDENT:",
        "if cause is not DamageCause.WEAR_OR_ACCIDENT:",
    ),
    "fee_waiver_ignored": (
        "return 0 if waiver is not None else policy.replacement_fee_fen",
        "return policy.replacement_fee_fen",
    ),
    "photo_not_required": (
        "if converting and not photo_provided:",
        "if False:",
    ),
    "certificate_not_matched": (
        "if holder.case.certificate_number != certificate_number:",
        "if False:",
    ),
    "produced_twice": (
        "        raise AlreadyProduced(",
        "        return None\n        raise AlreadyProduced(",
    ),
    "card_number_reused": (
        "if new_card_number in holder.known_card_numbers():",
        "if False:",
    ),
    "collected_twice": (
        "if case.collected_at is not None:\n        raise CardAlreadyCollected(",
        "if False:\n        raise CardAlreadyCollected(",
    ),
    "collected_before_production": (
        "if case.new_card_number is None:\n        raise CardNotProduced(",
        "if False:\n        raise CardNotProduced(",
    ),
    "wrong_outlet_accepted": (
        "if outlet != case.collection_outlet:",
        "if False:",
    ),
    "counter_identity_not_checked": (
        "if identity_document not in _COUNTER_IDENTITY:",
        "if False:",
    ),
    "activated_before_collection": (
        "if case is not None and case.new_card_number == card_number and case.collected_at is "
        "None:",
        "if False:",
    ),
    "other_card_activated": (
        "if holder.card.number != card_number:",
        "if False:",
    ),
    "unsealed_card_activated": (
        "if holder.card.status is not CardStatus.SEALED:",
        "if False:",
    ),
    "card_issued_today_refused": (
        "if issued_on > today:",
        "if issued_on >= today:",
    ),
    "card_issued_in_the_future_accepted": (
        "if issued_on > today:",
        "if (issued_on - today).days > 1:",
    ),
}


def _reason(output: str) -> str:
    """The first assertion line of a failure: the model's disagreement, or a reach shortfall."""
    for line in output.splitlines():
        if line.startswith("E "):
            return line[2:].strip()[:150]
    return "(no assertion line)"


def run(name: str, root: Path) -> tuple[bool, float, str]:
    """Whether the state machine failed with this inversion applied, how long it took, and
    why it failed."""
    original, broken = INVERSIONS[name]
    source = (root / RULES).read_text()
    if source.count(original) != 1:
        raise SystemExit(f"{name}: its original text is not in {RULES} exactly once")
    with tempfile.TemporaryDirectory(prefix="sscard-inversion-") as scratch:
        copy = Path(scratch)
        for part in ("src", "tests", "contracts", "pyproject.toml"):
            if (root / part).is_dir():
                shutil.copytree(
                    root / part, copy / part, ignore=shutil.ignore_patterns("__pycache__")
                )
            elif (root / part).exists():
                shutil.copy(root / part, copy / part)
        (copy / RULES).write_text(source.replace(original, broken))
        started = time.monotonic()
        outcome = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", STATE_MACHINE],
            cwd=copy,
            capture_output=True,
            text=True,
            check=False,
        )
        return _verdict(name, outcome), time.monotonic() - started, _reason(outcome.stdout)


def _verdict(name: str, outcome: subprocess.CompletedProcess[str]) -> bool:
    """Whether the state machine caught the inversion: pytest's exit 1 (a test failed) only.
    Any other non-zero exit (2 interrupted, e.g. by a collection error; 3 internal error; 4
    usage error; 5 no test collected) means the state machine never judged the broken rule, so
    the run stops there instead of counting it as a catch."""
    if outcome.returncode in (0, 1):
        return outcome.returncode == 1
    raise SystemExit(
        f"{name}: pytest exited {outcome.returncode} without judging the inversion "
        f"(a collection or usage error), not a catch:\n"
        f"{outcome.stdout[-2000:]}{outcome.stderr[-2000:]}"
    )


def main(names: list[str]) -> int:
    root = Path.cwd()
    unknown = sorted(set(names) - INVERSIONS.keys())
    if unknown:
        raise SystemExit(f"no such inversion: {', '.join(unknown)}")
    caught = missed = 0
    for name in names or list(INVERSIONS):
        failed, seconds, reason = run(name, root)
        print(f"{'caught' if failed else 'MISSED'} {name} ({seconds:.0f} s) {reason}", flush=True)
        caught += failed
        missed += not failed
    print(f"caught={caught} missed={missed}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
