"""energy_predict.outputs: files written whole or not at all, never through a link; each failure is one line."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from energy_predict.errors import InputError
from energy_predict.outputs import check_output_file, check_output_folder, make_folder, write_file, write_text

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "examples" / "code_gen.json"


def test_a_file_is_replaced_whole_and_no_temporary_file_is_left(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    write_text(target, "--csv", "new\n")
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")

    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(InputError, match=r"^--csv: cannot write .*out.csv: No space left on device"):
        write_file(target, "--csv", fail)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_a_link_at_the_target_is_refused_and_what_it_points_to_is_untouched(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("keep me")
    (tmp_path / "link.csv").symlink_to(secret)
    with pytest.raises(InputError, match="--csv: .*link.csv is a symbolic link"):
        write_text(tmp_path / "link.csv", "--csv", "overwritten")
    assert secret.read_text() == "keep me"


def test_a_linked_folder_is_refused(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "via").symlink_to(tmp_path / "real")
    with pytest.raises(InputError, match="--plot: .*via is a symbolic link"):
        make_folder(tmp_path / "via", "--plot")
    with pytest.raises(InputError, match="--csv: .*via is a symbolic link"):
        check_output_file(tmp_path / "via" / "x.csv", "--csv")


@pytest.mark.parametrize(("target", "problem"), [
    ("/dev/full", "is not a regular file"),
    ("/dev/null", "is not a regular file"),
    ("DIR", "is a folder"),
    ("FILE/x.csv", "is a file, not a folder"),
    ("missing/x.csv", "no folder"),
])
def test_targets_that_are_not_files_in_folders_are_refused_up_front(tmp_path, target, problem):
    (tmp_path / "DIR").mkdir()
    (tmp_path / "FILE").write_text("x")
    path = Path(target) if target.startswith("/") else tmp_path / target
    with pytest.raises(InputError, match=f"^--csv: .*{problem}"):
        check_output_file(path, "--csv")


def test_a_plot_name_needs_a_format_matplotlib_writes(tmp_path):
    with pytest.raises(InputError, match=r"--plot: .*'\.txt', not one of \.png"):
        check_output_file(tmp_path / "sweep.txt", "--plot", (".png", ".pdf", ".svg"))
    check_output_file(tmp_path / "sweep.svg", "--plot", (".png", ".pdf", ".svg"))


def test_a_name_too_long_is_one_line(tmp_path):
    with pytest.raises(InputError, match="--csv: .*too long"):
        write_text(tmp_path / ("a" * 300 + ".csv"), "--csv", "x")


def test_a_folder_on_a_read_only_file_system_is_one_line():
    with pytest.raises(InputError, match="^--plot: "):
        make_folder(Path("/proc/energy-predict-test"), "--plot")
    with pytest.raises(InputError, match="^--plot: cannot make the folder /sys/energy-predict-test"):
        make_folder(Path("/sys/energy-predict-test"), "--plot")
    with pytest.raises(InputError, match="^--csv: cannot write /proc/energy.csv"):
        write_text(Path("/proc/energy.csv"), "--csv", "x")
    with pytest.raises(InputError, match="^--plot: no folder"):
        check_output_folder(Path("/nonexistent-root-folder/x"), "--plot", create=False)


def _cli(args, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([sys.executable, "-m", "energy_predict", *args], capture_output=True, text=True,
                          env=env, timeout=120, **kwargs)


def test_cli_json_to_a_full_disk_fails_with_one_line():
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "energy_predict", "--profile", str(PROFILE), "--json"],
                                stdout=full, stderr=subprocess.PIPE, text=True, timeout=120,
                                env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: could not write to standard output: No space left on "
                                                  "device"]


def test_cli_with_stdout_closed_refuses_and_with_the_pipe_closed_says_so():
    closed = _cli(["--profile", str(PROFILE), "--json"], stdout=None, stdin=subprocess.DEVNULL,
                  preexec_fn=lambda: os.close(1))
    assert closed.returncode == 2 and closed.stderr.startswith("error: standard output is closed")
    proc = subprocess.Popen([sys.executable, "-m", "energy_predict", "--profile", str(PROFILE), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    proc.stdout.close()
    stderr = proc.stderr.read()
    assert proc.wait(timeout=120) == 2
    assert stderr.strip().splitlines() == ["error: could not write to standard output: the reader closed the pipe"]


def test_cli_csv_through_a_link_is_refused_and_a_real_csv_is_written(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("keep me")
    (tmp_path / "link.csv").symlink_to(secret)
    refused = _cli(["--profile", str(PROFILE), "--csv", str(tmp_path / "link.csv")])
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.count("\n") == 1 and "--csv" in refused.stderr
    assert secret.read_text() == "keep me"
    written = _cli(["--profile", str(PROFILE), "--csv", str(tmp_path / "bins.csv"), "--plot", str(tmp_path / "p")])
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "bins.csv").read_text().startswith("input_bin")
    assert sorted(p.suffix for p in (tmp_path / "p").iterdir()) == [".png"] * 3
    assert not [p for p in tmp_path.rglob(".*.tmp")]


@pytest.mark.parametrize(("raw", "shown"), [
    ("a\x1b[2Jb", "ab"),  # clear screen
    ("x\x1b]0;pwned\x07y", "xy"),  # set the terminal's title
    ("\x1b[31mred\x1b[0m", "red"),  # colour, off a terminal
    ("up\x1b[1Aline", "upline"),  # cursor move
    ("c1\x9bz bell\x07 bs\x08", "c1z bell bs"),
    ("sur\udc80g", "sur\\udc80g"),  # a lone surrogate is escaped, not a UnicodeEncodeError
    ("tab\tnewline\n", "tab\tnewline\n"),
])
def test_printable_strips_control_and_escapes_surrogates(raw, shown):
    from energy_predict.outputs import printable

    assert printable(raw) == shown
    shown.encode("utf-8")


def test_printable_keeps_colour_only_for_a_terminal():
    from energy_predict.outputs import printable

    assert printable("\x1b[1;31mred\x1b[0m\x1b[2J", keep_style=True) == "\x1b[1;31mred\x1b[0m"


def test_cli_prints_no_escape_sequence_from_a_hostile_profile(tmp_path):
    import json

    profile = json.loads(PROFILE.read_text())
    profile["name"] = "evil\x1b[2J\x1b]0;pwned\x07name\udc80"
    profile["site"] = {"pue": 1.2, "currency": "\x1b[31mUSD\udc80", "price_per_kwh": 0.1}
    (tmp_path / "evil.json").write_text(json.dumps(profile))  # JSON escapes keep the surrogate in the file
    for args in (["--profile", str(tmp_path / "evil.json")], ["gap", "--profile", str(tmp_path / "evil.json")]):
        result = subprocess.run([sys.executable, "-m", "energy_predict", *args], capture_output=True, timeout=120,
                                env={**os.environ, "PYTHONPATH": str(REPO / "src")})
        assert result.returncode == 0, result.stderr
        shown = result.stdout + result.stderr
        assert b"evil" in shown and b"\x1b" not in shown and b"\x07" not in shown and b"Traceback" not in shown
