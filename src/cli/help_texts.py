"""Every leaf command's help page: a description and at least one example to copy.

The examples live in one table, keyed by the command's path, so that the help of every command
reads the same way and a test can hold each leaf to it (a new command without an example fails
the suite). They use the README's holders, outlets and staff, and run as they stand on the
README's story, apart from the ids a reader must put in (a certificate, a claim id).
"""

from __future__ import annotations

import argparse

_HOLDER = "--resident-id 11010519491231002X"
_CLERK = "--outlet BJ-DC-001 --staff clerk-01"

EXAMPLES: dict[str, tuple[str, ...]] = {
    "card issue": (
        f"sscard card issue {_HOLDER} --name 张三 --region 110000 --card-number A12345678 {_CLERK}",
    ),
    "card produce": (
        "sscard card produce --certificate 110000-0000000001 --new-card-number B87654321 "
        "--staff centre-01",
        "sscard card produce --batch batch.csv --staff centre-01   # certificate,new_card_number,"
        "produced_at",
    ),
    "card collect": (
        f"sscard card collect {_HOLDER} --outlet BJ-HD-003 --staff clerk-01 "
        "--certificate 110000-0000000001 --agent 110108197911020154",
    ),
    "card activate": (
        f"sscard card activate {_HOLDER} --outlet BJ-HD-003 --staff clerk-01 "
        "--card-number B87654321",
    ),
    "card replace-damaged": (
        "sscard card replace-damaged --resident-id 110108198506120236 --outlet BJ-HD-003 "
        "--staff clerk-02 --cause card_defect --collection-outlet BJ-HD-003 "
        "--documents holder_id_original,holder_id_copy",
    ),
    "card whose": ("sscard card whose --card-number A12345678",),
    "loss pre-report": (
        f"sscard loss pre-report {_HOLDER} {_CLERK}",
        f"sscard loss pre-report {_HOLDER} --channel online   # the holder, online",
    ),
    "loss cancel": (f"sscard loss cancel {_HOLDER} {_CLERK} --reason card_found",),
    "loss report": (
        f"sscard loss report {_HOLDER} {_CLERK} --collection-outlet BJ-HD-003 "
        "--documents holder_id_original,holder_id_copy --request-id 7d1f0c52-report",
    ),
    "proxy authorize": (
        f"sscard proxy authorize {_HOLDER} {_CLERK} --agent 110108197911020154 "
        "--agent-name 李四 --scope apply,collect --grounds elderly --documents "
        "holder_id_original,holder_id_copy,agent_id_original,agent_id_copy,power_of_attorney",
    ),
    "holder show": (
        f"sscard holder show {_HOLDER}",
        f"sscard holder show {_HOLDER} --as-of 2026-11-26T09:00:00+08:00",
        f"sscard holder show {_HOLDER} --unmasked --staff auditor-01 --reason audit "
        "--reference AUD-2026-017",
    ),
    "holder history": (
        f"sscard holder history {_HOLDER}",
        f"sscard --json holder history {_HOLDER}   # one event per line",
    ),
    "holder erase": (f"sscard holder erase {_HOLDER} --staff auditor-01 --reason holder_request",),
    "claims submit": (
        f"sscard claims submit {_HOLDER} --hospital H11010500007 --treatment-date 2026-11-26 "
        "--invoice 0012345678 --total 5200.50 --in-scope 5000 --self-paid 200.50 "
        f"--documents invoice_original,itemised_list,prescription {_CLERK}",
    ),
    "claims approve": ("sscard claims approve --claim CLAIM_ID --officer officer-01",),
    "claims reject": (
        "sscard claims reject --claim CLAIM_ID --officer officer-01 --reason documents_illegible "
        '--explanation "the itemised list cannot be read"',
    ),
    "claims pay": (
        "sscard claims pay --claim CLAIM_ID --officer officer-01 --reference BANK-2026-0001",
    ),
    "claims withdraw": (f"sscard claims withdraw --claim CLAIM_ID {_HOLDER} --channel online",),
    "claims list": (
        "sscard claims list --status submitted",
        f"sscard claims list {_HOLDER} --json",
    ),
    "claims show": ("sscard claims show --claim CLAIM_ID",),
    "audit verify-chain": (
        "sscard audit verify-chain",
        "sscard audit verify-chain --anchor 1200:$DIGEST   # POSITION:DIGEST (64 hex digits) noted "
        "earlier",
    ),
    "audit unmasked-reads": (
        "sscard audit unmasked-reads",
        f"sscard audit unmasked-reads {_HOLDER} --json",
    ),
    "db migrate": ("sscard db migrate   # with the back office stopped",),
    "run": ("sscard run",),
    "status": ("sscard status",),
    "tick": ("sscard tick", "sscard tick --at 2026-12-01T09:00:00+08:00"),
    "contracts export": ("sscard contracts export contracts/",),
    "relay run": ("sscard relay run",),
    "relay status": ("sscard relay status",),
    "relay topics": ("sscard relay topics",),
    "outlet queue": (
        "sscard outlet queue --outlet BJ-HD-003",
        "sscard outlet queue --outlet BJ-HD-003 --status overdue --json",
    ),
    "analytics export": (
        "sscard analytics export --format csv --table outlet-months > outlet-months.csv",
        "sscard analytics export --format parquet --table cases --output cases.parquet",
    ),
    "replay": ("sscard replay claims", "sscard replay --progress outlet_queue"),
    "verify": ("sscard verify", "sscard verify settlement_blocklist"),
    "dead-letters list": ("sscard dead-letters list --view outlet_queue",),
    "dead-letters retry": ("sscard dead-letters retry --view outlet_queue",),
    "dead-letters discard": (
        "sscard dead-letters discard --view outlet_queue --partition 0 --offset 42",
    ),
    "settlement follow": ("sscard settlement follow --seconds 60",),
    "settlement check": ("sscard settlement check B87654321",),
    "consumers run": ("sscard consumers run --view outlet_queue",),
    "infra up": ("sscard infra up --kafka", "sscard infra up --kafka --postgres"),
    "infra down": ("sscard infra down",),
    "infra status": ("sscard infra status",),
    "bench relay": ("sscard bench relay --events 20000",),
    "bench commands": ("sscard bench commands --commands 4000 --holders 200",),
    "bench replay": (
        "sscard bench replay --events 20000 --store sqlite",
        "sscard bench replay --events 1000000 --keep-store /var/tmp/bench-1m --populate-only",
        "sscard bench replay --events 1000000 --from-store /var/tmp/bench-1m --skip-per-view",
    ),
    "bench replay-memory": (
        "sscard bench replay-memory --events 100000 --times 10",
        "sscard bench replay-memory --events 100000 --from-store /var/tmp/bench-memory",
    ),
    "bench lookup": ("sscard bench lookup",),
    "bench subscriber": ("sscard bench subscriber --cards 100000",),
    "bench views": ("sscard bench views --events 10000",),
    "bench http": (
        "sscard bench http --seconds 10 --workers 8",
        "sscard bench http --store postgres --servers 2",
    ),
    "chaos": (
        "sscard chaos --seed 7 --minutes 2",
        "sscard chaos --seed 7 --minutes 30 --store postgres   # a cluster of its own, as root",
    ),
    "demo": ("sscard demo",),
    "token issue": (
        "sscard token issue --role outlet_clerk --outlet BJ-DC-001 --subject clerk-01",
        "sscard token issue --role cardholder --holder 11010519491231002X --ttl 30m",
    ),
    "serve": ("sscard serve --port 8080", "sscard serve --port 8080 --host 0.0.0.0"),
}


def leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[str, argparse.ArgumentParser, str | None]]:
    """Every command without subcommands: its path ("card issue"), its parser and the one-line
    help its parent lists it with."""
    found: list[tuple[str, argparse.ArgumentParser, str | None]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                found.extend(_leaves_below(sub, (*path, name), helps.get(name)))
    return found


def _leaves_below(
    parser: argparse.ArgumentParser, path: tuple[str, ...], help_text: str | None
) -> list[tuple[str, argparse.ArgumentParser, str | None]]:
    below = leaves(parser, path)
    has_commands = any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)
    return below if has_commands else [(" ".join(path), parser, help_text)]


class _ExampleFormatter(argparse.HelpFormatter):
    """Wraps the description as usual; keeps the examples' lines as they are, to be copied."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("example"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def document(parser: argparse.ArgumentParser) -> None:
    """Give each leaf a description (its one-line help, when it has none of its own) and its
    examples below the options."""
    for path, leaf, help_text in leaves(parser):
        if not leaf.description and help_text:
            leaf.description = help_text[:1].upper() + help_text[1:] + "."
        examples = EXAMPLES.get(path)
        if examples:
            leaf.formatter_class = _ExampleFormatter
            leaf.epilog = (
                "example"
                + ("s" if len(examples) > 1 else "")
                + ":\n"
                + "\n".join(f"  {line}" for line in examples)
            )
