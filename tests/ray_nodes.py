"""Ray nodes of their own for cluster tests (``ray start --block`` in a new session): stopped by
signalling their process group, since ``ray stop`` would also stop the session's shared Ray."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.5)
    return False


def node_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This interpreter's bin first on PATH, so jobs on the node find ``tune-jobs``."""
    env = {**os.environ, **(extra or {})}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


@contextmanager
def ray_node(args: list[str], env: dict[str, str], log: Path | None = None) -> Iterator[subprocess.Popen]:
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    node = subprocess.Popen([RAY, "start", "--block", "--disable-usage-stats", *args], env=env, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield node
    finally:
        stop_node(node)
        if log:
            out.close()


def stop_node(node: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if node.poll() is not None:
        return
    try:
        os.killpg(node.pid, sig)
        node.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(node.pid, signal.SIGKILL)
        node.wait(timeout=30)
    except ProcessLookupError:
        pass


def token_env(directory: Path) -> dict[str, str]:
    """Token authentication with a token of the test's own: every node, driver and client gets
    the same explicit setting, whatever ``~/.ray/auth_token`` holds on this machine."""
    import secrets

    token = directory / "ray_auth_token"
    if not token.exists():
        token.write_text(secrets.token_hex(32))
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}


def wait_for_log(log: Path, text: str, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return True
        time.sleep(0.3)
    return False
