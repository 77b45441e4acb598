"""The dashboard: its views over real jobs, its token rule off loopback, and the pages in a real
headless Chromium (DevTools protocol): a job running in the background appears, and its trial
count and curves grow on the open page without a reload."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

import tune_jobs
from tune_jobs.dashboard.server import dashboard_token
from tune_jobs.dashboard.views import JobViews, job_directories, job_summary
from tune_jobs.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def dashboard(root, *extra, env=None):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tune_jobs", "dashboard", str(root), "--port", str(port), *extra],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/static/dashboard.css", timeout=2)
                break
            except urllib.error.HTTPError:
                break  # up, and asking for a token
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the dashboard did not start: " + server.stderr.read().decode())
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def get_json(url, headers=None):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def finished_job(ray_session, tmp_path_factory):
    root = tmp_path_factory.mktemp("dash")

    def climb(config, report):
        for step in range(1, 5):
            report({"score": config["x"] * step, "loss": 1.0 / step})

    tune_jobs.run({"name": "climb", "trainable": climb, "metric": "score", "mode": "max",
                   "space": {"x": {"uniform": [0.0, 1.0]}, "kind": {"choice": ["a", "b"]}},
                   "search": {"num_samples": 5, "seed": 0}, "scheduler": {"type": "asha", "max_t": 4, "grace_period": 1},
                   "storage": str(root), "tensorboard": False})
    return root


@pytest.mark.integration
def test_the_views_show_what_load_sees(finished_job):
    result = tune_jobs.load(finished_job / "climb")
    assert job_directories(str(finished_job)) == [str(finished_job / "climb")]
    summary = job_summary(str(finished_job / "climb"))
    assert summary["trials"] == 5 and summary["status"] == "finished" and summary["best"]["trial_id"] == result.best.trial_id
    view = JobViews().job(str(finished_job / "climb"))
    assert {t["trial_id"] for t in view["trials_table"]} == set(result.trials.trial_id)
    assert sum(len(c["steps"]) for c in view["curves"].values()) == len(result.iterations)
    best = view["best_over_time"]["best"]
    assert best == sorted(best) and best[-1] == pytest.approx(result.best.value)
    assert view["rungs"] and view["rungs"][0]["reached"] == 5
    stopped = set(result.trials[result.trials.status == "stopped"].trial_id)
    assert {e["trial_id"] for e in view["events"] if e["event"] == "stopped"} == stopped
    trial = JobViews().trial(str(finished_job / "climb"), result.best.trial_id)
    assert trial["history"]["steps"] == [1, 2, 3, 4] and set(trial["config"]) >= {"x", "kind"}
    assert trial["history"]["metrics"]["loss"] == pytest.approx([1.0, 0.5, 1 / 3, 0.25])
    with pytest.raises(UserError, match="no trial nope"):
        JobViews().trial(str(finished_job / "climb"), "nope")


def test_off_loopback_a_token_is_required(monkeypatch):
    monkeypatch.delenv("TUNE_JOBS_DASHBOARD_TOKEN", raising=False)
    assert dashboard_token("127.0.0.1") is None and dashboard_token("localhost") is None
    with pytest.raises(UserError, match="--host: 0.0.0.0 is reachable from other machines; set TUNE_JOBS_DASHBOARD_TOKEN"):
        dashboard_token("0.0.0.0")
    monkeypatch.setenv("TUNE_JOBS_DASHBOARD_TOKEN", "short")
    with pytest.raises(UserError, match="at least 16 characters"):
        dashboard_token("0.0.0.0")
    done = subprocess.run([sys.executable, "-m", "tune_jobs", "dashboard", str(ROOT), "--host", "0.0.0.0"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env={**os.environ, "TUNE_JOBS_DASHBOARD_TOKEN": ""})
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


@pytest.mark.integration
def test_with_a_token_only_its_holder_gets_in(finished_job):
    secret = "s3cret-s3cret-s3cret"
    env = {**os.environ, "TUNE_JOBS_DASHBOARD_TOKEN": secret}
    with dashboard(finished_job, env=env) as url:
        with pytest.raises(urllib.error.HTTPError) as refused:
            get_json(url + "/api/jobs")
        assert refused.value.code == 401
        assert get_json(url + "/api/jobs", {"Authorization": f"Bearer {secret}"})[0]["name"] == "climb"
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        page = opener.open(url + f"/job/climb?token={secret}", timeout=30)  # redirected without it, with a cookie
        assert page.geturl() == url + "/job/climb" and b'data-page="job"' in page.read()
        assert json.loads(opener.open(url + "/api/job/climb", timeout=30).read())["trials"] == 5


def _chromium():
    return next((found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None)


class Browser:
    """Headless Chromium driven over its DevTools protocol (one page)."""

    def __init__(self, profile: Path) -> None:
        self.process = subprocess.Popen([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                                         f"--user-data-dir={profile}", "--remote-debugging-port=0", "--window-size=1280,1600",
                                         "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for line in self.process.stderr:
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            if found:
                self.endpoint = found.group(1)
                break
        else:
            raise RuntimeError("Chromium did not open its DevTools port")
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self._connect())

    async def _connect(self) -> None:
        import aiohttp

        self.http = aiohttp.ClientSession()
        self.socket = await self.http.ws_connect(self.endpoint, max_msg_size=0)
        self.counter = 0
        target = await self._send("Target.createTarget", {"url": "about:blank"})
        attached = await self._send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        self.session = attached["sessionId"]
        await self._send("Page.enable", session=True)

    async def _send(self, method, params=None, session=False):
        self.counter += 1
        message = {"id": self.counter, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        await self.socket.send_str(json.dumps(message))
        while True:
            reply = json.loads((await self.socket.receive()).data)
            if reply.get("id") == self.counter:
                if "error" in reply:
                    raise RuntimeError(reply["error"])
                return reply["result"]

    def call(self, method, params=None):
        return self.loop.run_until_complete(self._send(method, params, session=True))

    def open(self, url):
        self.call("Page.navigate", {"url": url})

    def value(self, expression):
        return self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}).get("result", {}).get("value")

    def wait_for(self, expression, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.value(expression)
            if found:
                return found
            time.sleep(0.25)
        raise AssertionError(f"never true on the page: {expression}; body: {self.value('document.body.innerText')}")

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"]))

    def close(self):
        with contextlib.suppress(Exception):
            self.loop.run_until_complete(self.socket.close())
            self.loop.run_until_complete(self.http.close())
        self.process.kill()
        self.process.wait(timeout=30)
        self.loop.close()


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="no Chromium here (.ci/run installs Debian's chromium)")
def test_a_running_job_grows_on_the_open_page_in_headless_chromium(tmp_path):
    spec = tmp_path / "job.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "live", "trainable": "tests.user_trainables:counting", "metric": "score", "mode": "max",
        "config": {"steps": 30, "sleep": 0.4}, "space": {"x": {"uniform": [0.0, 1.0]}},
        "search": {"num_samples": 8, "seed": 0, "max_concurrent": 2}, "storage": str(tmp_path / "results"),
        "tensorboard": False}))
    job = subprocess.Popen([sys.executable, "-m", "tune_jobs", "run", str(spec), "--num-cpus", "2"], cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    browser = None
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "results" / "live" / "trials.parquet").exists():
            assert job.poll() is None and time.monotonic() < deadline, "the job did not start reporting"
            time.sleep(0.2)
        with dashboard(tmp_path / "results") as url:
            browser = Browser(tmp_path / "profile")
            browser.open(url + "/")
            browser.wait_for("!!document.querySelector('#jobs a') && document.querySelector('#jobs a').textContent === 'live'")
            browser.screenshot(tmp_path / "jobs.png")
            browser.open(url + "/job/live")
            browser.wait_for("!!document.body.dataset.points && !!document.getElementById('trial-count')")
            count, points = "Number(document.getElementById('trial-count').textContent)", "Number(document.body.dataset.points)"
            first = (browser.value(count), browser.value(points))
            browser.screenshot(tmp_path / "job-first.png")
            assert job.poll() is None, "the job ended before the page could watch it grow: make it longer"
            # the same page, never reloaded: its own refresh brings the new rows
            grown = browser.wait_for(f"{points} > {first[1]} && {count} > {first[0]} && [{count}, {points}]", timeout=90)
            assert grown[1] > first[1] and grown[0] > first[0]
            assert browser.value("document.querySelectorAll('#curves .scatterlayer .trace').length") >= 1  # Plotly drew curves
            browser.screenshot(tmp_path / "job-later.png")
            trial = browser.value("document.querySelector('#trials a').getAttribute('href')")
            browser.open(url + trial)
            browser.wait_for("!!document.getElementById('trial-iterations') && document.querySelectorAll('#config tr').length >= 1")
            assert browser.value("document.querySelectorAll('#trial-curves .scatterlayer .trace').length") >= 1
            browser.screenshot(tmp_path / "trial.png")
        for shot in ("jobs.png", "job-first.png", "job-later.png", "trial.png"):
            assert (tmp_path / shot).stat().st_size > 10_000, shot
    finally:
        if browser is not None:
            browser.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.pid, signal.SIGKILL)
        job.wait(timeout=30)
