"""Shell completion: the bash script loads in bash and completes commands, options and choices;
the zsh script is valid zsh and registers itself (when zsh is installed)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from nmt_monitor.cli import COMMANDS
from tests.cli import run_cli


def complete_in_bash(script: str, *words: str) -> list[str]:
    """What Tab offers after ``nmt-monitor WORDS...`` (the last word being completed)."""
    words_q = " ".join(f"'{w}'" for w in ("nmt-monitor",) + words)
    code = (f"{script}\n"
            f"COMP_WORDS=({words_q}); COMP_CWORD={len(words)}; COMP_LINE=\"${{COMP_WORDS[*]}}\"; "
            "COMP_POINT=${#COMP_LINE}\n"
            "$(complete -p nmt-monitor | sed -E 's/.* -F ([^ ]+) .*/\\1/') nmt-monitor\n"
            "printf '%s\\n' \"${COMPREPLY[@]}\"")
    r = subprocess.run(["bash", "--norc", "--noprofile"], input=code, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


@pytest.fixture(scope="module")
def bash_script():
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    r = run_cli("completion", "bash")
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_bash_completes_commands_options_and_choices(bash_script, tmp_path):
    assert complete_in_bash(bash_script, "") == list(COMMANDS)
    assert complete_in_bash(bash_script, "an") == ["analyze"]
    assert "--gauge-unit" in complete_in_bash(bash_script, "stream", "--gauge")
    assert complete_in_bash(bash_script, "live", "--units", "") == ["N", "kgf", "lbf", "kPa"]
    assert complete_in_bash(bash_script, "completion", "") == ["bash", "zsh"]
    (tmp_path / "session-1.h5").write_bytes(b"")
    assert complete_in_bash(bash_script, "replay", f"{tmp_path}/sess") == [f"{tmp_path}/session-1.h5"]


def test_zsh_script_is_valid_and_registers_itself(tmp_path):
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed")
    r = run_cli("completion", "zsh")
    assert r.returncode == 0 and r.stdout.startswith("#compdef nmt-monitor")
    (tmp_path / "_nmt-monitor").write_text(r.stdout)
    code = (f"fpath=({tmp_path} $fpath); autoload -U compinit; compinit -u -d {tmp_path}/zcompdump; "
            "print -r -- ${_comps[nmt-monitor]}")
    check = subprocess.run(["zsh", "-n", str(tmp_path / "_nmt-monitor")], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    r = subprocess.run(["zsh", "-f", "-c", code], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.strip() == "_nmt-monitor", r.stderr
