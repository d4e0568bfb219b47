"""``sscard demo``: one full replacement and one lapsed pre-report, told step by step.

Loaded by the CLI only when ``sscard demo`` is asked for (see ``cli.main``).
"""

from __future__ import annotations

import argparse

from samples.demo import run_demo
from service.settings import Settings


def add_actions(demo: argparse.ArgumentParser) -> None:
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    run_demo(settings, print)
    return 0
