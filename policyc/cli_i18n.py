"""argparse in Chinese: usage, section titles, the help and version options, and every error message.

argparse takes its words from gettext: its module-level `_` and `ngettext` (`from gettext import gettext as _,
ngettext`) are called by message id whenever a parser is built, prints help or reports an error. `chinese()`
installs the translations object below in their place for the duration of a call, and puts the previous ones
back afterwards, so a program that imports policyc (pytest, a notebook) keeps its own argparse messages.

The catalog is by msgid, for Python 3.10 to 3.14; a message a newer Python adds or rewords is shown in English
rather than wrongly. Standard library only: `policyc --help` works on a lean install.
"""
from __future__ import annotations

import argparse
import gettext
import re
import unicodedata
from contextlib import contextmanager

# argparse's type names as the user reads them in "invalid %(type)s value" (the type function's __name__)
TYPE_NAMES = {"int": "整数", "float": "数字"}


class _TypedMessage(str):
    """A translated message whose `%` names the type in Chinese (`invalid int value` → `不是有效的整数`)."""

    def __mod__(self, args):
        if isinstance(args, dict) and "type" in args:
            args = dict(args, type=TYPE_NAMES.get(args["type"], args["type"]))
        return str.__mod__(str(self), args)


CATALOG: dict[str, str] = {
    # help output
    "usage: ": "用法：",
    "options": "选项",
    "optional arguments": "选项",  # Python 3.9's title, for completeness
    "positional arguments": "位置参数",
    "subcommands": "子命令",
    "%(heading)s:": "%(heading)s：",  # Python 3.13+
    "show this help message and exit": "显示本帮助并退出",
    "show program's version number and exit": "显示版本号并退出",
    " (default: %(default)s)": "（默认：%(default)s）",
    # errors in what the user typed
    "%(prog)s: error: %(message)s\n": "%(prog)s：错误：%(message)s\n",
    "%(prog)s: warning: %(message)s\n": "%(prog)s：警告：%(message)s\n",
    "argument %(argument_name)s: %(message)s": "参数 %(argument_name)s：%(message)s",
    "the following arguments are required: %s": "缺少必需的参数：%s",
    "one of the arguments %s is required": "须给出以下参数之一：%s",
    "unrecognized arguments: %s": "无法识别的参数：%s",
    "invalid choice: %(value)r (choose from %(choices)s)": "无效的取值 %(value)r（可选：%(choices)s）",
    "invalid choice: %(value)r, maybe you meant %(closest)r? (choose from %(choices)s)":
        "无效的取值 %(value)r，是否想写 %(closest)r？（可选：%(choices)s）",
    "invalid %(type)s value: %(value)r": "%(value)r 不是有效的%(type)s",
    "expected one argument": "需要一个取值",
    "expected at most one argument": "最多接受一个取值",
    "expected at least one argument": "至少需要一个取值",
    "ambiguous option: %(option)s could match %(matches)s": "有歧义的选项：%(option)s 可以是 %(matches)s",
    "not allowed with argument %s": "不能与参数 %s 一起使用",
    "ignored explicit argument %r": "该选项不接受取值：%r",
    "unexpected option string: %s": "意外的选项：%s",
    "unknown parser %(parser_name)r (choices: %(choices)s)": "没有命令 %(parser_name)r（可选：%(choices)s）",
    "can't open '%(filename)s': %(error)s": "无法打开“%(filename)s”：%(error)s",
    'argument "-" with mode %r': "参数“-”不能以模式 %r 打开",
    "option '%(option)s' is deprecated": "选项“%(option)s”已弃用",
    "argument '%(argument_name)s' is deprecated": "参数“%(argument_name)s”已弃用",
    "command '%(parser_name)s' is deprecated": "命令“%(parser_name)s”已弃用",
    # mistakes in building a parser (a policyc bug, never the user's input), translated all the same
    "conflicting subparser: %s": "重复的子命令：%s",
    "conflicting subparser alias: %s": "重复的子命令别名：%s",
    "cannot have multiple subparser arguments": "不能有多组子命令",
    "cannot merge actions - two groups are named %r": "无法合并：两个参数组都名为 %r",
    "'required' is an invalid argument for positionals": "位置参数不能使用 required",
    "invalid option string %(option)r: must start with a character %(prefix_chars)r":
        "无效的选项 %(option)r：应以字符 %(prefix_chars)r 开头",
    "dest= is required for options like %r": "选项 %r 须指定 dest=",
    "invalid conflict_resolution value: %r": "无效的 conflict_resolution 取值：%r",
    "mutually exclusive arguments must be optional": "互斥的参数必须是选项",
    "%r is not callable": "%r 不可调用",
    ".__call__() not defined": "未定义 .__call__()",
}

PLURALS: dict[str, tuple[str, str]] = {  # msgid (singular) → (Chinese singular, Chinese plural): the same word
    "expected %s argument": ("需要 %s 个取值", "需要 %s 个取值"),
    "conflicting option string: %s": ("重复的选项：%s", "重复的选项：%s"),
}


class ChineseTranslations(gettext.NullTranslations):
    """gettext translations from the catalogs above; a message not in them stays as argparse wrote it."""

    def gettext(self, message):
        text = CATALOG.get(message)
        if text is None:
            return message
        return _TypedMessage(text) if "%(type)s" in text else text

    def ngettext(self, msgid1, msgid2, n):
        forms = PLURALS.get(msgid1)
        if forms is None:
            return msgid1 if n == 1 else msgid2
        return forms[0] if n == 1 else forms[1]


TRANSLATIONS = ChineseTranslations()


@contextmanager
def chinese():
    """argparse speaks Chinese inside the block (nested blocks are fine: each puts back what it found)."""
    if "_" not in vars(argparse) or "ngettext" not in vars(argparse):  # an argparse that gets its words otherwise
        yield
        return
    saved = argparse._, argparse.ngettext
    argparse._ = TRANSLATIONS.gettext
    argparse.ngettext = TRANSLATIONS.ngettext
    try:
        yield
    finally:
        argparse._, argparse.ngettext = saved


# punctuation that closes a phrase: kept at the end of a line rather than opening the next
_CLOSING = set("，。、；：）」』】？！,.;:)]}")


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def wrap(text: str, width: int) -> list[str]:
    """Lines of at most `width` terminal columns (a Chinese character takes two): lines break between Chinese
    characters or at spaces, never inside a Latin word, an option or a path."""
    lines: list[str] = []
    line, used = "", 0
    for token in re.findall(r"\s+|[^\s\u2e80-\uffff]+|.", " ".join(text.split())):
        size = _width(token)
        if token.isspace():
            if line:
                line, used = line + " ", used + 1
            continue
        if line and used + size > width and token not in _CLOSING:
            lines.append(line.rstrip())
            line, used = "", 0
        line, used = line + token, used + size
    if line.strip():
        lines.append(line.rstrip())
    return lines


class ChineseHelpFormatter(argparse.HelpFormatter):
    """argparse's help, its lines wrapped by terminal columns rather than by characters, so that a Chinese help
    text fits the terminal."""

    def _split_lines(self, text, width):
        return wrap(text, width)

    def _format_usage(self, usage, actions, groups, prefix):
        # argparse indents the usage's continuation lines by the prefix's length in characters; 用法： is wider
        text = super()._format_usage(usage, actions, groups, prefix)
        shown = prefix if prefix is not None else argparse._("usage: ")
        extra = _width(shown) - len(shown)
        if extra <= 0 or not text.startswith(shown):
            return text
        first, *rest = text.split("\n")
        return "\n".join([first] + [" " * extra + line if line.startswith(" ") else line for line in rest])

    def _format_action(self, action):
        # an invocation with Chinese in it (the 命令 of the command list) is padded by its width, not its length
        text = super()._format_action(action)
        invocation = self._format_action_invocation(action)
        extra = _width(invocation) - len(invocation)
        head, newline, rest = text.partition("\n")
        at = head.find(invocation)
        if extra > 0 and at >= 0:
            end = at + len(invocation)
            gap = len(head[end:]) - len(head[end:].lstrip(" "))
            if gap - extra >= 2:
                head = head[:end] + head[end + extra:]
        return head + newline + rest

    def _fill_text(self, text, width, indent):
        return "\n".join(indent + line for line in wrap(text, max(width - len(indent), 20)))


def in_chinese(method):
    """Wrap a parser method so that the messages argparse makes while it runs are Chinese."""
    def wrapper(*args, **kwargs):
        with chinese():
            return method(*args, **kwargs)
    wrapper.__name__, wrapper.__qualname__, wrapper.__doc__ = method.__name__, method.__qualname__, method.__doc__
    return wrapper
