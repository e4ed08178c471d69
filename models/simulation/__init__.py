"""The launch-day simulation: request-level, with the autoscaler, driven by SimPy.

Start with :func:`simulate_day`::

    from models.profile import load_profile
    from models.simulation import SimulationOptions, simulate_day

    summary = simulate_day(load_profile(), SimulationOptions(hours=1, start_hour=9, seed=1))
    summary.to_frame()          # one row per minute: users, rps, p50/p95, errors, instances...
    summary.totals["p95_ms"]    # an Estimate: mean and 95% interval over replications

To simulate one queue (M/M/c, M/M/1) rather than a day, :func:`simulate_station`::

    run = simulate_station(arrival_rate=320.0, service_rate=100.0, servers=4, seed=1)
    run.mean_sojourn_s, run.p95_s, run.utilization

Modules: :mod:`~models.simulation.arrivals` (the curve, the request mix, open and closed
load), :mod:`~models.simulation.system` (load balancer, workers, database pool, breakers),
:mod:`~models.simulation.autoscaler` (the policy, shared with :mod:`models.fastpath`),
:mod:`~models.simulation.recorder` (per-minute records and totals),
:mod:`~models.simulation.result` (result types, confidence intervals),
:mod:`~models.simulation.runner` (the SimPy processes) and :mod:`~models.simulation.station`
(one queue on its own).
"""

from models.simulation.arrivals import DayCurve, RequestMix, ServiceDraws
from models.simulation.autoscaler import Autoscaler, ScalingAction, ScalingPolicy
from models.simulation.recorder import MinuteRecord, Totals
from models.simulation.result import Estimate, SimulationResult, SimulationSummary
from models.simulation.runner import SimulationOptions, run_once, simulate_day
from models.simulation.station import StationRun, simulate_station, station_profile
from models.simulation.system import CircuitBreaker, ExternalCall, System, SystemSpec

__all__ = [
    "Autoscaler",
    "CircuitBreaker",
    "DayCurve",
    "Estimate",
    "ExternalCall",
    "MinuteRecord",
    "RequestMix",
    "ScalingAction",
    "ScalingPolicy",
    "ServiceDraws",
    "SimulationOptions",
    "SimulationResult",
    "SimulationSummary",
    "StationRun",
    "System",
    "SystemSpec",
    "Totals",
    "run_once",
    "simulate_day",
    "simulate_station",
    "station_profile",
]
