"""`policyc fmt`: canonical layout, comments kept, idempotent, and never a change of meaning."""
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import POLICY, ROOT
from policyc.diagnostics import Reporter
from policyc.dsl.fmt import format_file, format_text

RULES = sorted((POLICY / "rules").glob("*.policy"))


def test_shipped_rule_files_are_canonical():
    for path in RULES:
        text = path.read_text(encoding="utf-8")
        assert format_file(str(path), text, Reporter()) == text, path.name


def test_messy_layout_becomes_canonical_and_keeps_comments():
    messy = ("\n\n# 说明一\n定义   甲 (a) =\n        如果 真   则 1   # 行尾注释\n  否则 2\n\n\n\n"
             "   记录 乙 (b) {\n名称 (name):   文本\n      }\n# 末尾注释\n")
    assert format_text(messy) == ("# 说明一\n定义 甲 (a) =\n  如果 真 则 1  # 行尾注释\n  否则 2\n\n"
                                  "记录 乙 (b) {\n  名称 (name): 文本\n}\n# 末尾注释\n")


def test_strings_are_left_alone():
    text = '程序 p (p) 依据 "二(二)5"\n说明 s (s) 依据 "二(二)5":\n  "两个  空格 # 不是注释"\n'
    assert format_text(text) == text


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(RULES), st.lists(st.sampled_from(["  ", "\t", " \t ", "blank"]), min_size=1, max_size=20),
       st.randoms(use_true_random=False))
def test_whitespace_noise_formats_back_to_the_same_file(path, noise, rnd):
    """Indenting lines anyhow, trailing spaces and doubled blank lines never change the canonical form."""
    lines = path.read_text(encoding="utf-8").split("\n")
    for extra in noise:
        i = rnd.randrange(len(lines))
        if extra == "blank":
            blanks = [k for k, line in enumerate(lines) if not line]
            if blanks:
                lines.insert(rnd.choice(blanks), "  ")
        elif lines[i].strip():
            lines[i] = extra + lines[i] + extra
    noisy = "\n".join(lines)
    result = format_file(str(path), noisy, Reporter())
    assert result == path.read_text(encoding="utf-8")


def test_fmt_command_check_and_write(tmp_path):
    f = tmp_path / "x.policy"
    f.write_text("定义   甲 (a) = 1\n", encoding="utf-8")
    run = lambda *a: subprocess.run([sys.executable, "-m", "policyc", "fmt", *a], capture_output=True, text=True,
                                    cwd=ROOT)
    assert run("--check", str(f)).returncode == 1
    assert run(str(f)).returncode == 0 and f.read_text(encoding="utf-8") == "定义 甲 (a) = 1\n"
    assert run("--check", str(f)).returncode == 0
    f.write_text("定义 甲 = (\n", encoding="utf-8")
    proc = run(str(f))
    assert proc.returncode == 1 and "E0103" in proc.stderr and f.read_text(encoding="utf-8") == "定义 甲 = (\n"
