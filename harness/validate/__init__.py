"""``harness validate``: how close does the model come to what the service does?

    calibration run (a short step of light loads) + capacity probe ──► demands + service curve
          │                                                           (fit.py)
          └── CalibratedModel ──► the saturation point N* it predicts
                                   │
          Trial "step load": levels where it predicts 25/50/75% CPU, then up to past N*
              predict ──► settle + measure stage per level ──► run (replications) ──► compare
                                   │
          Trial "held-out mix": another persona mix, same calibration, same steps

Modules, in the order a validation uses them: :mod:`~harness.validate.settings` (what it does
and the goals it judges), :mod:`~harness.validate.plan` (profiles and stages),
:mod:`~harness.validate.runs` (real runs, pinned off the load generator's core),
:mod:`~harness.validate.fit` (calibration, the service curve, the calibrated model),
:mod:`~harness.validate.trial` (one load predicted, measured and compared),
:mod:`~harness.validate.measure` (measure stages, replications and their spread),
:mod:`~harness.validate.compare` (errors against the goals), :mod:`~harness.validate.runner`
(the whole validation and ``validation.json``, typed in :mod:`models.validation_records`),
:mod:`~harness.validate.table` (the plain-text table the command prints).
"""
