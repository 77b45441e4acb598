"""A simulated backend for research on schedulers and searchers: learning curves (a table of
real ones, or a multi-fidelity formula) replayed through the same search algorithms and the
same schedulers a real job uses, on a simulated clock with N workers. A job of hundreds of trials
takes seconds, so methods are compared over many seeds. The real backend stays the product."""

from tune_jobs.simulation.benchmarks import Benchmark, CurveTable, MFHartmann6
from tune_jobs.simulation.simulator import SimulationResult, simulate

__all__ = ["Benchmark", "CurveTable", "MFHartmann6", "SimulationResult", "simulate"]
