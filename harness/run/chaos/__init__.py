"""Chaos scenarios: inject the scenario's fault while the load runs, then judge the recovery.

A ``chaos-*`` scenario is an ordinary load shape plus a ``[scenarios.<name>.fault]`` table
(models/profile.py ``Fault``; docs/reliability.md, "Faults under load"). The parts, each a
module of its own::

    session       what ``harness run`` calls: checks, the proxy, arming, ticking, judging
    injectors     how each kind of fault is caused and healed (db, payments, notify, worker,
                  loadgen), and how to tell that the service is whole again
    fault_proxy   the TCP proxy that puts latency and resets on the path to PostgreSQL
    controller    the fault's timeline: inject, escalate half-way, heal, watch recovery
    recovery      the judgement: error budget, recovery time, the drained backlog

The orchestration sees only :class:`ChaosSession`; nothing here imports it back.
"""

from harness.run.chaos.session import ChaosSession

__all__ = ["ChaosSession"]
