"""The lab: launch day in miniature, built from real parts the harness starts and removes.

K service instances, each under a kernel CPU limit like a container's (:mod:`.cgroups`), behind
HAProxy (:mod:`.haproxy`); PgBouncer in transaction mode (:mod:`.pgbouncer`) in front of a
PostgreSQL primary with R streaming read replicas (:mod:`.postgres`). Everything listens on
loopback only, every wait has a deadline, and everything started is written down first
(:mod:`.cleanup`) so that it is removed again, even after the harness was killed.
:mod:`.topology` says what a lab is made of and where each part runs. docs/lab.md describes
the parts, how each is started, sized and cleaned up.
"""
