"""Ray itself for a job's driver: join a cluster or start an embedded one on loopback (with the
cluster's token when there is one), quiet Ray Tune's noise, and stop what we started."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from tune_jobs.errors import UserError
from tune_jobs.ray_tune import compat


def _not_a_transient_state_sync_error(record: logging.LogRecord) -> bool:
    """Tune copies its experiment state to storage in a background thread while the driver writes
    the searcher's state as ``.<uuid>-tmp-searcher-state-*.pkl`` and renames it: the copy may find
    the temporary file gone and log an ERROR with a traceback. Nothing is lost (the next sync
    copies the renamed file), so it is not shown."""
    error = record.exc_info[1] if record.exc_info else None
    return not (record.getMessage().startswith("Saving experiment state to storage")
                and isinstance(error, OSError) and "-tmp-" in str(error))


def start_ray(address: str | None, num_cpus: int | None, num_gpus: int | None) -> bool:
    """Connect to ``address`` or start an embedded Ray on loopback; True if we started it."""
    import ray

    if address:
        _use_token_if_found()
    state_logger = logging.getLogger("ray.tune.execution.experiment_state")
    if _not_a_transient_state_sync_error not in state_logger.filters:
        state_logger.addFilter(_not_a_transient_state_sync_error)

    if ray.is_initialized():
        return False
    # User modules named as ``package.module:function`` must import on the workers too.
    cwd = str(Path.cwd())
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if cwd not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([cwd, *paths])
    options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False, "configure_logging": True}
    if address:
        try:
            ray.init(address=address, **options)
        except ConnectionError as error:
            raise UserError([f"--address {address}: {str(error).splitlines()[0]}; is the cluster up (`ray status`)? "
                             "With token authentication this process needs the cluster's token too "
                             "(RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token)"]) from None
    else:
        # Ray says on every embedded start that it turned token authentication on by default:
        # true and fine on loopback, and nothing the user has to act on.
        logging.getLogger(compat.AUTH_TOKEN_SETUP_LOGGER).addFilter(
            lambda record: "Token authentication is enabled for this Ray cluster" not in record.getMessage())
        # "local": always a new embedded instance. Without it ray.init joins the cluster named in
        # /tmp/ray/ray_current_cluster, and hangs when that cluster has since stopped.
        ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False,
                 _node_ip_address="127.0.0.1", **options)
    return True


def _use_token_if_found() -> None:
    """A cluster from ``ray start --head`` turns token auth on by itself when ``~/.ray/auth_token``
    exists, but a client only sends the token when ``RAY_AUTH_MODE=token``: say so for it."""
    from tune_jobs.core.tokens import find_token

    if "RAY_AUTH_MODE" not in os.environ and find_token() is not None:
        os.environ["RAY_AUTH_MODE"] = "token"
        with contextlib.suppress(ImportError, AttributeError):  # Ray caches its config: re-read it, as Ray does
            compat.reload_ray_config()


def quiet_ray_tune() -> None:
    from tune_jobs.ray_tune.callback import quiet_trial_failure_dumps, stop_retrying_repeated_errors

    quiet_trial_failure_dumps()
    stop_retrying_repeated_errors()
    # num_to_keep forces an experiment snapshot per checkpoint; Ray warns about it on every
    # short epoch. The snapshots are what resume needs, so keep them and drop the warning.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Ray's own CSV/JSON/TensorBoard files per trial duplicate the Parquet results.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    # ...which makes the end-of-run analysis warn that it found no result.json per trial.
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    # Our progress line replaces Ray's tables; its new output engine prints one even at verbose=0.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")


def stop_ray() -> None:
    import ray

    ray.shutdown()


def cluster_resources() -> dict[str, float]:
    import ray

    return dict(ray.cluster_resources())
