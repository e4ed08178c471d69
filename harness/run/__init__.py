"""``harness run`` and everything one run is made of: the target, the swarm, the watching,
and the artifacts.

The orchestration (:mod:`harness.run.orchestrate`) starts or checks the target, starts the
Locust swarm (:mod:`harness.run.locust_runner`, with :mod:`harness.run.locust_plugin` loaded
into every Locust process), watches it (:mod:`harness.run.watch`, with :mod:`harness.run.probe`,
:mod:`harness.run.scrape`, :mod:`harness.run.progress`), and concludes
(:mod:`harness.run.outcome`): stages and endpoints (:mod:`harness.run.summary`), reconciliation
and the lost-write audit (:mod:`harness.run.reconcile`, :mod:`harness.run.integrity`),
objectives and alert rules (:mod:`harness.run.gates`, :mod:`harness.run.alerts`), then
``run.json`` (its records: models/run_records.py) and the report. What passes from one phase to
the next is in :mod:`harness.run.context`. Fault injection lives in :mod:`harness.run.chaos`,
which the orchestration reaches through its ``ChaosSession`` alone.
"""
