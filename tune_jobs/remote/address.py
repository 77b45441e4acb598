"""Which job-server addresses we talk to, and over what.

The job API runs arbitrary code on the cluster, so plain ``http://`` is accepted only on loopback
unless the user says ``--insecure`` (Ray's guidance: never expose it); ``https://`` verifies
certificates (``requests`` does by default).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from tune_jobs.core.network import is_loopback
from tune_jobs.errors import SpecError

DEFAULT_PORT = 8265


def check_address(address: str, insecure: bool = False) -> str:
    """The address as the job client wants it, or a one-line ``SpecError``."""
    parts = urlsplit(address if "://" in address else f"http://{address}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SpecError([f"--address: expected http(s)://HOST:PORT of the Ray dashboard, got {address}"])
    if parts.path.strip("/") or parts.query:
        raise SpecError([f"--address: expected no path after HOST:PORT, got {address}"])
    if parts.scheme == "http" and not is_loopback(parts.hostname) and not insecure:
        raise SpecError([f"--address: {address} is plain http to another machine; the job API runs any code it is "
                         "sent, so use https (or an SSH tunnel to 127.0.0.1), or pass --insecure to accept the risk"])
    port = parts.port or (DEFAULT_PORT if parts.scheme == "http" else 443)
    return f"{parts.scheme}://{parts.hostname}:{port}"


def address_is_loopback(address: str) -> bool:
    return is_loopback(urlsplit(address).hostname or "")
