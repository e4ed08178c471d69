"""``harness validate``: how close does the model come to a load it never saw?

    pilot (one light stage) ──► CPU per user ──► calibration at light CPU targets (<= 50%)
          │                                               │
          │                        demands + two service-curve fits (plain, speed-normalised)
          │                                  + the naive baseline (fit.py, baseline.py)
          ▼
    Trial "far beyond the calibration": the same mix where the model predicts 15..95% CPU and
        at three times the heaviest calibration load; replicated; judges the capacity too
    Trial "held-out mix": another persona mix, same calibration
    Trial "held-out think time": twice the think times, same calibration
        each: predict ──► settle + measure stage per level ──► run ──► compare, judged where
        the model *predicted* at most 85% CPU, beside the baseline's and the other fit's errors

    --lab: one lab instance calibrated at light load under its CPU limit, then
    the instance decision: the planner's K (and the naive baseline's) at a load one instance
        cannot carry, K-1 and K measured (K+1 too with --k-plus-one)
    Trial "lab topology": the [lab] at levels of load, predicted by the topology model; CPU
        per instance, latency and PgBouncer's connections busy judged

Modules, in the order a validation uses them: :mod:`~harness.validate.settings` (what it does
and the goals it judges), :mod:`~harness.validate.plan` (profiles, levels and stages),
:mod:`~harness.validate.runs` (real runs, pinned off the load generator's core),
:mod:`~harness.validate.fit` (calibration, the service curves, the calibrated models),
:mod:`~harness.validate.baseline` (what every prediction must beat),
:mod:`~harness.validate.trial` (one load predicted, measured and compared),
:mod:`~harness.validate.measure` (measure stages, replications and their spread),
:mod:`~harness.validate.compare` (errors against the goals, the capacity, the misses),
:mod:`~harness.validate.decision` and :mod:`~harness.validate.decision_trial` (the lab's
calibration, the instance decision), :mod:`~harness.validate.topology_trial` and
:mod:`~harness.validate.lab_measure` (the lab topology trial),
:mod:`~harness.validate.duration` (the planned duration, the time budget),
:mod:`~harness.validate.runner` (the whole validation and ``validation.json``, typed in
:mod:`models.validation_records`), :mod:`~harness.validate.reanalyse` (the same runs fitted
again the other way), :mod:`~harness.validate.table` (the plain text the commands print).
"""
