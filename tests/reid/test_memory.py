"""keep_freed_memory: a freed 64 MiB tensor stays with the process (its
resident size does not fall back), and each way out leaves glibc as it is.
Each case runs in a fresh interpreter: the setting is the process's."""
import os
import subprocess
import sys
import textwrap

import pytest

from cosam_reid import cli
from cosam_reid.memory import ENVIRONMENT, GLIBC_SETTINGS, allocator_description

# Prints what keep_freed_memory returned, then the MiB that stay resident after a 64 MiB tensor is freed.
PROBE = textwrap.dedent("""
    import sys, torch
    from cosam_reid.memory import keep_freed_memory

    def resident_mib():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4096 / 2**20

    kept = keep_freed_memory() if sys.argv[1] == "keep" else None
    before = resident_mib()
    tensor = torch.ones(16 * 2**20)  # 64 MiB, every page touched
    del tensor
    print(kept, resident_mib() - before)
""")

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc (Linux)")


def probe(mode, **environment):
    env = {name: value for name, value in os.environ.items() if name not in (ENVIRONMENT, *GLIBC_SETTINGS)}
    result = subprocess.run([sys.executable, "-c", PROBE, mode], env={**env, **environment},
                            capture_output=True, text=True, check=True)
    kept, retained = result.stdout.split()
    return kept, float(retained)


def test_freed_memory_is_kept_for_reuse():
    kept, retained = probe("keep")
    assert kept == "True" and retained > 60


def test_without_it_glibc_gives_the_memory_back():
    assert probe("leave")[1] < 8


@pytest.mark.parametrize("environment", [{ENVIRONMENT: "0"}, {"MALLOC_TRIM_THRESHOLD_": "131072"}])
def test_the_user_can_keep_glibcs_own_settings(environment):
    kept, retained = probe("keep", **environment)
    assert kept == "False" and retained < 8


def test_the_command_keeps_freed_memory(monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append("kept"))
    command = lambda args: calls.append("ran")  # noqa: E731
    monkeypatch.setattr(cli, "build_parser", lambda: _Parser(command))
    assert cli.main([]) == 0 and calls == ["kept", "ran"]


class _Parser:
    """parse_args gives a subcommand that runs `command`."""

    def __init__(self, command):
        self.command = command

    def parse_args(self, argv):
        return type("Args", (), {"command": "probe", "run": staticmethod(self.command)})()


def test_a_measurement_records_the_allocator(monkeypatch):
    for name in (ENVIRONMENT, *GLIBC_SETTINGS):
        monkeypatch.delenv(name, raising=False)
    assert allocator_description(True).startswith("freed memory kept")
    assert allocator_description(False) == "glibc's malloc as it is"
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert allocator_description(False) == "glibc's malloc with MALLOC_TRIM_THRESHOLD_=131072"
