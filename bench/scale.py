"""tune-jobs at the sizes users run, each figure beside its baseline in the same run.

    python bench/scale.py long     [--trials 400] [--seeds 0 1 2]   bayesopt+ASHA/Hyperband to the budget, vs random
    python bench/scale.py pairs    [--trials 1000]                  every searcher x scheduler the spec accepts
    python bench/scale.py latency  [--sizes 1000 2000 10000]        bayesopt suggest(): capped GP, every row, stock
    python bench/scale.py asks     [--sizes 1000 3000 10000]        forest (and tpe) suggest() under rungs, vs random
    python bench/scale.py many     [--trials 10000] [--with-auto]   trivial trials vs plain Ray Tune (reuse_actors)
    python bench/scale.py readers  [--trials 1000 --reports 1000]   three readers polling a 1M-row job
    python bench/scale.py chaos    [--kills 10]                     driver SIGKILLed and rerun, a worker node killed

Jobs run on one local Ray with ``--cpus`` CPUs (default 2); ``long`` and ``pairs`` use the
multi-fidelity Hartmann6 (``bench/mf_functions.py``), which costs nothing per epoch, so what is
measured is the tuner: its searchers, schedulers, bookkeeping and files.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")

from bench.mf_functions import HARTMANN6_OPTIMUM, space  # noqa: E402


def _init_ray(cpus: int) -> None:
    import ray

    ray.init(address="local", num_cpus=cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, logging_level="ERROR")


def _mf_job(name: str, storage: str, trials: int, search: dict[str, Any], scheduler: dict[str, Any],
            epochs: int = 27) -> dict[str, Any]:
    return {"name": name, "trainable": "bench.mf_functions:mf_hartmann6", "metric": "score", "mode": "max",
            "config": {"epochs": epochs}, "space": space(), "search": {"num_samples": trials, **search},
            "scheduler": scheduler, "failure": {"max_failures": 0}, "storage": storage, "tensorboard": False}


def _run_quietly(data: dict[str, Any]) -> tuple[Any, float]:
    from rich.console import Console

    from tune_jobs.runner import run_job
    from tune_jobs.spec import validate_spec

    spec = validate_spec(data)
    with open(os.devnull, "w") as quiet:
        started = time.perf_counter()
        outcome = run_job(spec, console=Console(file=quiet), restart=True)
        return outcome, time.perf_counter() - started


def long_jobs(args: argparse.Namespace) -> None:
    """The job that crashed: 400 trials, bayesopt with ASHA (and with Hyperband), two at a time,
    every seed to its budget; random search with the same scheduler as the baseline."""
    _init_ray(args.cpus)
    asha = {"type": "asha", "max_t": 27, "grace_period": 1, "reduction_factor": 3}
    hyperband = {"type": "hyperband", "max_t": 27, "reduction_factor": 3}
    print(f"\n{args.trials} trials of MF-Hartmann6 (27 epochs), max_concurrent 2, {args.cpus} CPUs")
    print(f"{'search + scheduler':<22}{'seed':>5}{'ended':>10}{'done':>6}{'failed':>7}{'wall s':>8}{'regret':>9}{'vs random':>11}")
    with tempfile.TemporaryDirectory() as storage:
        for scheduler_name, scheduler in (("asha", asha), ("hyperband", hyperband)):
            for seed in args.seeds:
                regrets = {}
                for algorithm in ("random", "bayesopt"):
                    data = _mf_job(f"long-{algorithm}-{scheduler_name}-{seed}", storage, args.trials,
                                   {"algorithm": algorithm, "max_concurrent": 2, "seed": seed}, scheduler)
                    outcome, seconds = _run_quietly(data)
                    done = outcome.counts.get("completed", 0) + outcome.counts.get("stopped", 0)
                    regrets[algorithm] = HARTMANN6_OPTIMUM - outcome.best.best
                    ratio = f"{regrets[algorithm] / regrets['random']:.2f}x" if algorithm != "random" else "1.00x"
                    print(f"{algorithm + '+' + scheduler_name:<22}{seed:>5}{outcome.status:>10}{done:>6}"
                          f"{outcome.counts.get('failed', 0):>7}{seconds:>8.1f}{regrets[algorithm]:>9.4f}{ratio:>11}",
                          flush=True)


def pairs(args: argparse.Namespace) -> None:
    """Every registered searcher with every registered scheduler that the spec accepts."""
    from tune_jobs.errors import SpecError
    from tune_jobs.schedulers import SCHEDULERS
    from tune_jobs.search import SEARCHES
    from tune_jobs.spec import validate_spec

    _init_ray(args.cpus)
    epochs = 9
    schedulers = {"fifo": {"type": "fifo"}, "asha": {"type": "asha", "max_t": epochs},
                  "asha_promotion": {"type": "asha_promotion", "max_t": epochs},
                  "hyperband": {"type": "hyperband", "max_t": epochs},
                  "pbt": {"type": "pbt", "hyperparams": ["x1", "x2"]}}
    assert set(schedulers) == set(SCHEDULERS.names()), "a new scheduler: add its settings here"
    print(f"\n{args.trials} trials x {epochs} epochs of MF-Hartmann6 per pair, {args.cpus} CPUs")
    print(f"{'search':<11}{'scheduler':<16}{'outcome':<34}{'wall s':>8}{'ms/trial':>10}{'vs random+fifo':>16}")
    baseline = None
    with tempfile.TemporaryDirectory() as storage:
        for search in ["random", *[name for name in SEARCHES.names() if name != "random"]]:
            if args.searches and search not in args.searches:
                continue
            for scheduler_name, scheduler in schedulers.items():
                data = _mf_job(f"pair-{search}-{scheduler_name}".replace("_", "-"), storage, args.trials,
                               {"algorithm": search, "seed": 0}, scheduler, epochs)
                try:
                    validate_spec(data)
                except SpecError as refused:
                    print(f"{search:<11}{scheduler_name:<16}refused by the spec: {refused.problems[0]}", flush=True)
                    continue
                try:
                    outcome, seconds = _run_quietly(data)
                except Exception as error:  # the point of the run: report any crash, go on
                    print(f"{search:<11}{scheduler_name:<16}CRASHED: {type(error).__name__}: {error}", flush=True)
                    continue
                ended = sum(outcome.counts.get(s, 0) for s in ("completed", "stopped", "failed"))
                baseline = baseline or seconds
                shown = f"{outcome.status}, {ended} ended, {outcome.counts.get('failed', 0)} failed"
                print(f"{search:<11}{scheduler_name:<16}{shown:<34}{seconds:>8.1f}{1000 * seconds / args.trials:>10.1f}"
                      f"{seconds / baseline:>15.2f}x", flush=True)


def latency(args: argparse.Namespace) -> None:
    """Ours with the GP capped at ``max_gp_points`` (the default), ours modelling every result, and
    stock bayes_opt (only up to ``--stock-up-to`` observations: it refits its kernel on every call)."""
    import warnings

    from bench.bayesopt_latency import SPACES, timed_steps
    from bench.searchers import StockBayesOpt, TuneJobsBayesOpt

    class EveryRow(TuneJobsBayesOpt):
        def __init__(self, space: Any, seed: int) -> None:
            super().__init__(space, seed)
            self.searcher.options = self.searcher.options.model_copy(update={"max_gp_points": 10**9})

    warnings.simplefilter("ignore")
    print(f"\n{'space':<32}{'obs':>6}{'ours mean s':>13}{'ours max s':>12}{'every row s':>13}{'every / ours':>14}"
          f"{'stock mean s':>14}{'stock / ours':>14}")
    for name, (search_space, function) in SPACES.items():
        for size in args.sizes:
            ours = timed_steps(TuneJobsBayesOpt, search_space, function, size, args.steps)
            every = timed_steps(EveryRow, search_space, function, size, args.steps)
            stock = timed_steps(StockBayesOpt, search_space, function, size, 1) if size <= args.stock_up_to else None
            mean = statistics.mean(ours)
            stock_cells = (f"{statistics.mean(stock):>14.3f}{statistics.mean(stock) / mean:>13.1f}x" if stock
                           else f"{'not run':>14}{'':>14}")
            print(f"{name:<32}{size:>6}{mean:>13.3f}{max(ours):>12.3f}{statistics.mean(every):>13.3f}"
                  f"{statistics.mean(every) / mean:>13.1f}x{stock_cells}", flush=True)


def asks(args: argparse.Namespace) -> None:
    """A search's own time per suggestion as its history grows, under ASHA's rungs: every trial
    reports rung 1, a third rung 3, a ninth rung 9 (what ASHA keeps), as a job tells it; the next
    ``--steps`` suggestions timed at each size. No Ray: the ask/tell algorithm alone."""
    import numpy as np

    from tune_jobs.search import SEARCHES
    from tune_jobs.space import Choice, LogUniform, RandInt, Uniform

    space = {"lr": LogUniform(loguniform=(1e-4, 0.3)), "dropout": Uniform(uniform=(0.0, 0.5)),
             "batch_size": Choice(choice=[16, 32, 64, 128]), "optimizer": Choice(choice=["sgd", "adam"]),
             "width": RandInt(randint=(8, 512))}
    print(f"\n{'search':<10}" + "".join(f"{f'ms @{n}':>12}" for n in args.sizes) + f"{'whole run s':>13}{'vs random':>11}")
    baseline: list[float] = []
    for name in ["random", *args.searches]:
        search = SEARCHES.get(name).model_validate({"algorithm": name, "seed": 0}).build(space, "s", "max", rungs=[1, 3, 9, 27])
        rng, at, started = np.random.RandomState(0), [], time.perf_counter()
        for i in range(max(args.sizes) + args.steps):
            before = time.perf_counter()
            config = search.ask(f"t{i}")
            took = time.perf_counter() - before
            if any(size <= i < size + args.steps for size in args.sizes):
                at.append(took)
            value = -abs(math.log10(config["lr"]) + 2) - config["dropout"] + rng.normal(0, 0.1)
            for rung in (1, 3, 9)[:1 + (i % 3 == 0) + (i % 9 == 0)]:
                search.observe(f"t{i}", rung, value + rung / 100)
            search.tell(f"t{i}", value)
        per_size = [1000 * statistics.mean(at[k * args.steps:(k + 1) * args.steps]) for k in range(len(args.sizes))]
        baseline = baseline or per_size
        print(f"{name:<10}" + "".join(f"{ms:>12.2f}" for ms in per_size) + f"{time.perf_counter() - started:>13.1f}"
              f"{per_size[-1] / baseline[-1]:>10.0f}x", flush=True)


def _many_one(side: str, trials: int, cpus: int, storage: str) -> float:
    """One side of ``many`` in its own process and its own local Ray: a Ray session that has
    already run 10,000 trials runs the next 10,000 slower (plain Ray Tune with loggers off took
    392 s in a fresh one and 505 s after another 10,000-trial run), so sides sharing one would be
    timed by their order."""
    import ray

    from bench.overhead import plain_ray_tune, through_tune_jobs

    _init_ray(cpus)
    through_tune_jobs(4, storage + "/warmup", algorithm="random")  # first-use costs out of the way
    try:
        if side == "plain":
            return plain_ray_tune(trials, storage, reuse_actors=True)
        if side == "plain-lean":
            return plain_ray_tune(trials, storage, reuse_actors=True, loggers=False)
        return through_tune_jobs(trials, storage + "/ours", algorithm=None if side == "auto" else "random")
    finally:
        ray.shutdown()  # before the pool ends this process: Ray's exit hooks need their cluster


def many(args: argparse.Namespace) -> None:
    """Random search on both sides, as plain Ray Tune's default variant generator draws; then the
    spec's default search (``auto``: bayesopt here), whose suggestions are driver work. Plain Ray
    Tune twice: with its default loggers (JSON, CSV, TensorBoard: what its users get, and like
    tune-jobs' Parquet + TensorBoard, a record of every result) and with them off (its leanest).
    Each side in a fresh process and Ray (``_many_one``)."""
    import multiprocessing

    sides = ["ours", "plain-lean", "plain", *(["auto"] if args.with_auto else [])]
    seconds = {}
    with tempfile.TemporaryDirectory() as storage:
        for side in sides:
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                seconds[side] = pool.apply(_many_one, (side, args.trials, args.cpus, f"{storage}/{side}"))
            print(f"{side}: {seconds[side]:.1f} s", flush=True)
    plain, lean, ours = seconds["plain"], seconds["plain-lean"], seconds["ours"]
    print(f"\n{args.trials} trivial trials (3 reports each), {args.cpus} CPUs, each side in a fresh local Ray")
    print(f"plain Ray Tune (reuse_actors=True), default loggers  {plain:8.1f} s  {1000 * plain / args.trials:6.1f} ms/trial")
    print(f"plain Ray Tune (reuse_actors=True), no loggers       {lean:8.1f} s  {1000 * lean / args.trials:6.1f} ms/trial")
    print(f"tune-jobs, random (Parquet + TensorBoard)            {ours:8.1f} s  {1000 * ours / args.trials:6.1f} ms/trial  "
          f"{ours / plain:.2f}x plain with loggers (target <= 1.2x), {ours / lean:.2f}x plain without")
    if args.with_auto:
        default = seconds["auto"]
        print(f"tune-jobs, search auto (bayesopt)                    {default:8.1f} s  {1000 * default / args.trials:6.1f} ms/trial  "
              f"{default / plain:.2f}x plain with loggers")


READER = """
import sys, time
import tune_jobs
from tune_jobs.errors import UserError
directory, stop, every = sys.argv[1], sys.argv[2], float(sys.argv[3])
import os
reads = failed = backwards = last = 0
while True:
    finished = os.path.exists(stop)
    try:
        rows = len(tune_jobs.load(directory).iterations)
        backwards += rows < last
        last = max(last, rows)
        reads += 1
    except UserError as error:
        if "not a tune-jobs results directory" not in str(error):  # before the job has started
            failed += 1
            print(error, file=sys.stderr)
    except Exception as error:
        failed += 1
        print(repr(error), file=sys.stderr)
    if finished:
        break
    time.sleep(every)
print(reads, failed, backwards, last)
"""


def _peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def readers(args: argparse.Namespace) -> None:
    """A job of trials x reports rows while the API, `tune-jobs results` and `tune-jobs report`
    poll it (each pausing ``--poll-s`` between reads, as a monitor would): failed reads, reads
    that went backwards, the driver's peak RSS; and the same job with no reader, as the baseline."""
    alone_s, alone_rss = (math.nan, math.nan) if args.skip_alone else _rows_job(args, with_readers=False)[:2]
    seconds, peak, code, polled = _rows_job(args, with_readers=True)
    print(f"\n{args.trials} trials x {args.reports} reports = {args.trials * args.reports:,} rows, {args.cpus} CPUs, "
          f"readers every {args.poll_s} s")
    print(f"{'job':<22}{'wall s':>8}{'driver peak RSS MB':>20}")
    print(f"{'no reader':<22}{alone_s:>8.0f}{alone_rss:>20.0f}" + ("   (not run: --skip-alone)" if args.skip_alone else ""))
    print(f"{'three readers':<22}{seconds:>8.0f}{peak:>20.0f}   ({seconds / alone_s:.2f}x the time, exit {code})")
    print(f"{'reader':<22}{'reads':>7}{'failed':>8}{'went backwards':>16}")
    for name, (reads, failed, backwards) in polled.items():
        print(f"{name:<22}{reads:>7}{failed:>8}{backwards:>16}")


def _rows_job(args: argparse.Namespace, with_readers: bool) -> tuple[float, float, int, dict[str, tuple[Any, ...]]]:
    import yaml

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        spec = directory / "rows.yaml"
        spec.write_text(yaml.safe_dump({
            "name": "rows", "trainable": "bench.trivial:many_reports", "metric": "score", "mode": "max",
            "config": {"reports": args.reports}, "space": {"x": {"uniform": [0.0, 1.0]}},
            "search": {"num_samples": args.trials, "seed": 0}, "tensorboard": False, "storage": str(directory / "results"),
        }))
        results, stop = directory / "results" / "rows", directory / "stop"
        tune_jobs = [sys.executable, "-m", "tune_jobs"]
        started = time.monotonic()
        driver = subprocess.Popen([*tune_jobs, "run", str(spec), "--num-cpus", str(args.cpus)], cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        api = subprocess.Popen([sys.executable, "-c", READER, str(results), str(stop), str(args.poll_s)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) if with_readers else None
        cli = {"results": [0, 0], "report": [0, 0]}  # reads, failures
        peak = 0.0
        while driver.poll() is None:
            time.sleep(args.poll_s)
            peak = max(peak, _peak_rss_mb(driver.pid))
            for command, extra in (("results", []), ("report", ["-o", str(directory / "report.html")])):
                if not with_readers or not (results / "job.json").exists():
                    continue
                done = subprocess.run([*tune_jobs, command, str(results), *extra], cwd=ROOT, capture_output=True,
                                      text=True)
                cli[command][0] += 1
                if done.returncode != 0:
                    cli[command][1] += 1
                    print(f"{command} failed: {(done.stderr or done.stdout).strip()[-300:]}", file=sys.stderr)
        seconds = time.monotonic() - started
        stop.touch()
        polled: dict[str, tuple[Any, ...]] = {}
        if api is not None:
            out, err = api.communicate()
            reads, failed, backwards, _ = (int(v) for v in out.split())
            polled["Python API (load)"] = (reads, failed, backwards)
            polled.update({f"tune-jobs {c}": (n, f, "-") for c, (n, f) in cli.items()})
            if err.strip():
                print(err.strip()[-2000:], file=sys.stderr)
    return seconds, peak, int(driver.returncode), polled


def chaos(args: argparse.Namespace) -> None:
    """One job on a two-node loopback cluster whose driver is SIGKILLed at ``--kills`` random
    moments and rerun each time, then one whose worker node is killed mid-job."""
    import pandas as pd

    from bench.fault_recovery import FAST_HEALTH_CHECKS, write_spec
    from tests.ray_nodes import free_port, node_env, ray_node, stop_node, token_env, wait_for_log, wait_for_port
    from tune_jobs.results.iteration_log import read_iterations
    from tune_jobs.results.store import ResultsStore

    rng = random.Random(args.seed)
    total = args.trials * args.steps
    with (contextlib.nullcontext(args.keep) if args.keep else tempfile.TemporaryDirectory()) as tmp:
        directory, port = Path(tmp), free_port()
        env = node_env({**FAST_HEALTH_CHECKS, **token_env(directory), "PYTHONPATH": str(ROOT)})
        address = f"127.0.0.1:{port}"
        head = ["--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2", "--include-dashboard=false"]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": ROOT, "env": env}

        def spec_for(name: str) -> Path:
            return write_spec(directory, name, args)  # the fault benchmark's job: steps that checkpoint

        def rows(name: str) -> int:
            try:
                return len(read_iterations(ResultsStore(str(directory / "results" / name))))
            except (OSError, ValueError):
                return 0

        def check(name: str) -> tuple[int, int, int, int]:
            table = pd.read_parquet(directory / "results" / name / "iterations.parquet")
            trials = pd.read_parquet(directory / "results" / name / "trials.parquet")
            seen = list(zip(table.trial_id, table.training_iteration, strict=True))
            lost = total - len(set(seen))
            replayed_wrong = int((table["step"] != table["training_iteration"]).sum())  # a trial that restarted from scratch
            incomplete = int((trials.status != "completed").sum() + (trials.iterations != args.steps).sum())
            return lost, len(seen) - len(set(seen)), replayed_wrong, incomplete

        with ray_node(head, env):
            assert wait_for_port(port), "the head did not start"
            log = directory / "worker.log"
            worker_context = ray_node([f"--address={address}", "--node-ip-address=127.0.0.1", "--num-cpus=2"], env, log)
            worker = worker_context.__enter__()
            assert wait_for_log(log, "Ray runtime started"), log.read_text()[-2000:]
            command = [sys.executable, "-m", "tune_jobs", "run", "--address", address]

            started = time.monotonic()
            plain_code = subprocess.run([*command[:4], str(spec_for("uninterrupted")), *command[4:]], **quiet).returncode
            plain_seconds = time.monotonic() - started
            spec = spec_for("driver-kills")
            moments = sorted(rng.sample(range(int(0.05 * total), int(0.95 * total)), args.kills))
            started = time.monotonic()
            kills = 0
            driver = subprocess.Popen([*command[:4], str(spec), *command[4:]], **quiet)
            for moment in moments:
                while driver.poll() is None and rows("driver-kills") < moment:
                    time.sleep(0.05)
                if driver.poll() is not None:
                    break
                driver.send_signal(signal.SIGKILL)
                driver.wait()
                kills += 1
                driver = subprocess.Popen([*command[:4], str(spec), *command[4:]], **quiet)
            code = driver.wait()
            killed_seconds = time.monotonic() - started
            killed = check("driver-kills")

            spec = spec_for("node-loss")
            started = time.monotonic()
            driver = subprocess.Popen([*command[:4], str(spec), *command[4:]], **quiet)
            while driver.poll() is None and rows("node-loss") < total // 2:
                time.sleep(0.05)
            stop_node(worker, signal.SIGKILL)
            worker_context.__exit__(None, None, None)
            worker_context = ray_node([f"--address={address}", "--node-ip-address=127.0.0.1", "--num-cpus=2"], env,
                                      directory / "worker2.log")
            worker_context.__enter__()
            node_code = driver.wait()
            node_seconds = time.monotonic() - started
            lost_node = check("node-loss")
            print(f"  uninterrupted: lost, duplicated, replayed wrong, incomplete = {check('uninterrupted')}")
            worker_context.__exit__(None, None, None)
    print(f"\n{args.trials} trials x {args.steps} steps x {args.sleep} s, 2 nodes x 2 CPUs on loopback")
    print(f"{'run':<34}{'exit':>5}{'wall s':>8}{'lost':>6}{'duplicated':>12}{'replayed wrong':>16}{'incomplete trials':>19}")
    print(f"{'uninterrupted':<34}{plain_code:>5}{plain_seconds:>8.1f}")
    print(f"{f'driver SIGKILLed {kills} times, rerun':<34}{code:>5}{killed_seconds:>8.1f}" + "".join(
        f"{v:>{w}}" for v, w in zip(killed, (6, 12, 16, 19), strict=True)))
    print(f"{'worker node killed mid-job':<34}{node_code:>5}{node_seconds:>8.1f}" + "".join(
        f"{v:>{w}}" for v, w in zip(lost_node, (6, 12, 16, 19), strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["long", "pairs", "latency", "asks", "many", "readers", "chaos"])
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--trials", type=int, help="default: long 400, pairs 1000, many 10000, readers 1000, chaos 8")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000])
    parser.add_argument("--stock-up-to", type=int, default=2000, help="latency: stock bayes_opt only up to this size")
    parser.add_argument("--skip-alone", action="store_true", help="readers: run only the job with readers (1M rows "
                        "take about 22 minutes alone on 2 CPUs)")
    parser.add_argument("--with-auto", action="store_true", help="many: also the default search (auto: bayesopt)")
    parser.add_argument("--steps", type=int, default=None, help="latency: suggest() calls timed (5); chaos: steps per trial (30)")
    parser.add_argument("--reports", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--poll-s", type=float, default=1.0, help="readers: pause between two reads of each reader")
    parser.add_argument("--sleep", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--searches", nargs="+", help="pairs: only these search algorithms (default: every registered one); "
                        "asks: these beside random (default: forest)")
    parser.add_argument("--keep", help="chaos: work in this directory and keep it (to look at what went wrong)")
    args = parser.parse_args()
    defaults = {"long": 400, "pairs": 1000, "many": 10000, "readers": 1000, "chaos": 8}
    args.trials = args.trials or defaults.get(args.part, 0)
    args.steps = args.steps or (30 if args.part == "chaos" else 5)
    if args.part == "asks":
        args.searches = args.searches or ["forest"]
    {"long": long_jobs, "pairs": pairs, "latency": latency, "asks": asks, "many": many, "readers": readers,
     "chaos": chaos}[args.part](args)


if __name__ == "__main__":
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    main()
