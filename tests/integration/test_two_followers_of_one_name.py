"""Two runners of one store follower (a standby ``sscard run`` on the same PostgreSQL store runs
the audit worker, the lapse scheduler and the event counts too): the one that comes second to a
stretch finds its position moved and follows, whatever rows the first one wrote.

Found by ``sscard chaos --seed 60 --minutes 1 --store postgres``: the log chain's second runner
collided on the chain's key (IntegrityError, a traceback and a worker failure), because the
follower wrote the batch's rows before moving its position by compare-and-set."""

from __future__ import annotations

from replay.verify_chain import verify_chain
from service.bootstrap import BackOffice
from store.log_chain import log_chain_follower
from tests.support import issue, pre_report, resident_id
from tracking.runner import Pulse


def test_the_second_runner_of_a_stretch_follows_the_first(backoffice: BackOffice):
    for _ in range(3):
        holder = resident_id()
        backoffice.office.issue_card(issue(holder))
        backoffice.office.pre_report_loss(pre_report(holder))
    first, second = log_chain_follower(backoffice), log_chain_follower(backoffice)
    assert first.position() == second.position() == 0  # both read the same stretch
    assert first.step(Pulse.quiet())
    assert second.step(Pulse.quiet()) == 0  # a conflict followed, not a failure
    while second.step(Pulse.quiet()) is not None:
        pass
    assert second.position() == first.position() == backoffice.source.head()
    assert verify_chain(backoffice).intact
