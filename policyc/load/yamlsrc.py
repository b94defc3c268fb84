"""YAML that remembers where every value was written, with exact numbers and no surprises.

Numbers become int or Decimal (from the digits as written, never through float), and only within bounds checked
before any arithmetic: |x| < 10^15 with at most 10 decimals (NUMBER_DIGITS, NUMBER_DECIMALS), else E0018 at the
value — as are .inf and .nan, and 1e400 (a plain scalar in exponent form is a number, as in YAML 1.2); dates stay
ISO strings (the schemas check their form); anchors and aliases are refused, so no document can expand beyond its
text.
Characters outside the closed alphabet of policyc.names are refused (E0009) wherever they are written, and in
every key and text value however they were written (escapes such as "\u202e" or "\0", block scalars' line breaks).
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

import yaml

from ..diagnostics import Reporter, Span
from ..names import TEXT_MAX, describe_char, scan_source, shown, unsafe_chars

Path_ = tuple  # a JSON path: keys and indexes


class Located:
    """A loaded document with the span of every node, by JSON path."""

    def __init__(self, file: str, data, spans: dict[Path_, Span]):
        self.file = file
        self.data = data
        self.spans = spans

    def data_at(self, path: Path_):
        node = self.data
        for key in path:
            node = node[key]
        return node

    def span(self, path: Path_) -> Span:
        """The span of the value at path, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path and path not in self.spans:
            path = path[:-1]
        return self.spans.get(path, Span(self.file, 1, 1))

    def key_span(self, path: Path_) -> Span:
        return self.spans.get(("#key",) + tuple(path)) or self.span(path)


def _span(file: str, mark) -> Span:
    return Span(file, mark.line + 1, mark.column + 1)


# Every number of a source: |x| < 10^15 (the runtime's bound on request numbers; batch SQL types a number of scale s
# as DECIMAL(18+s, s)) with at most 10 decimals (batch SQL multiplies exactly up to 20 decimals in all)
NUMBER_DIGITS = 15
NUMBER_DECIMALS = 10
_EXPONENT_FORM = re.compile(r"[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+")  # 1e400: YAML 1.2 float


class OutOfRange:
    """A number a source wrote that is not used: the text as written and why (E0018)."""

    def __init__(self, text: str, detail: str):
        self.text, self.detail = text, detail


def number_problem(value: Decimal | int) -> str | None:
    """Why a number read from a source is out of the bounds above, or None. Cheap for any Decimal: only its
    exponent and digit count are looked at, no arithmetic is done."""
    if isinstance(value, int):
        return None if -10**NUMBER_DIGITS < value < 10**NUMBER_DIGITS else f"绝对值应小于 10^{NUMBER_DIGITS}"
    if not value.is_finite():
        return "不是有限的数（不能写 .inf、.nan）"
    exponent = value.as_tuple().exponent
    if exponent < -NUMBER_DECIMALS:
        return f"小数超过 {NUMBER_DECIMALS} 位"
    if value and value.adjusted() >= NUMBER_DIGITS:
        return f"绝对值应小于 10^{NUMBER_DIGITS}"
    return None


def _number(text: str, tag: str):
    """An int or Decimal from a scalar's text, an OutOfRange, or the text itself when it is no number."""
    digits = text.replace("_", "")
    if len(digits) > 4 * NUMBER_DIGITS:  # long before any conversion: 10^5000 is refused by its length
        return OutOfRange(text, f"写了 {len(digits)} 个字符，而绝对值应小于 10^{NUMBER_DIGITS}、"
                                f"最多 {NUMBER_DECIMALS} 位小数")
    value: int | Decimal
    if digits.lstrip("+-").lower() in (".inf", ".nan"):
        return OutOfRange(text, "不是有限的数（不能写 .inf、.nan）")
    if tag == "tag:yaml.org,2002:int":
        for base in (10, 0):
            try:
                value = int(digits, base)
                break
            except ValueError:
                pass
        else:
            return text
    else:
        try:
            value = Decimal(digits)
        except InvalidOperation:
            return text
    problem = number_problem(value)
    if problem is not None:
        return OutOfRange(text, problem)
    if isinstance(value, Decimal) and value.as_tuple().exponent > 0:
        value = value.quantize(Decimal(1))  # 1.5e3 is 1500, not 1.5E+3 (bounded above: exact)
    return value


def _scalar(node: yaml.ScalarNode, key: bool = False):
    tag, text = node.tag, node.value
    if tag == "tag:yaml.org,2002:null":
        return None
    if tag == "tag:yaml.org,2002:bool":
        return text.lower() in ("true", "yes", "on")
    if tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
        value = _number(text, tag)
        if key and isinstance(value, OutOfRange):
            return text  # a key is a name, not a quantity: only its spelling matters
        return value
    if (not key and tag == "tag:yaml.org,2002:str" and not node.style and len(text) <= 200  # plain: None or ""
            and _EXPONENT_FORM.fullmatch(text)):
        return _number(text, "tag:yaml.org,2002:float")
    # str and timestamps stay text (the schemas check date formats); unsafe characters are reported by load_yaml
    return text


# libyaml's composer where PyYAML was built with it (the wheels are): ~6× faster, same nodes and marks
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# PyYAML's problems (libyaml's and the pure-Python parser's wording), in words a policy officer reads; others are
# shown as PyYAML writes them
YAML_PROBLEMS = {
    "did not find expected ',' or ']'": "缺少逗号或右方括号 ]",
    "expected ',' or ']'": "缺少逗号或右方括号 ]",
    "did not find expected ',' or '}'": "缺少逗号或右花括号 }",
    "expected ',' or '}'": "缺少逗号或右花括号 }",
    "mapping values are not allowed": "此处不能写“键: 值”（值中有冒号时请给值加引号，或检查缩进）",
    "did not find expected key": "缺少键，或缩进没有对齐",
    "could not find expected ':'": "缺少冒号“:”（或冒号后缺少空格）",
    "did not find expected '-' indicator": "缺少列表项开头的“- ”，或缩进没有对齐",
    "expected <block end>": "缩进没有对齐",
    "found unexpected end of stream": "文件意外结束（引号或括号没有配对？）",
    "found character that cannot start any token": "此处的字符不能开始任何内容（如制表符 Tab、@ 或 `）",
    "found character '\\t' that cannot start any token": "缩进中不能使用制表符 Tab，只用空格",
    "found a tab character": "缩进中不能使用制表符 Tab，只用空格",
    "found unknown escape character": "双引号文字中有无效的转义（\\ 之后的字符）",
    "found unknown directive name": "未知的 % 指令",
    "did not find expected <document start>": "内容结束后还有多余的字符（括号是否多了？）",
    "but found another document": "一个文件只能有一个 YAML 文档（删除多余的 ---）",
    "found undefined alias": "使用了未定义的别名 *",
    "found undefined tag handle": "未定义的标签 !",
    "did not find expected node content": "此处缺少内容",
    "found unexpected ':'": "出现了意外的冒号",
}


def yaml_problem(problem: str) -> str:
    """PyYAML's English problem in Chinese, where it is a common one."""
    zh = next((zh for en, zh in YAML_PROBLEMS.items() if problem.startswith(en)), None)
    if zh is None and problem.startswith("found character ") and problem.endswith(" that cannot start any token"):
        zh = f"字符 {problem[len('found character '):-len(' that cannot start any token')]} 不能开始任何内容"
    return zh or problem


def load_yaml(file: str, text: str, reporter: Reporter) -> Located | None:
    """Parse text; report a syntax error at its line and return None."""
    if not scan_source(file, text, reporter):
        return None
    try:
        if "&" in text or "*" in text:
            for token in yaml.scan(text, Loader=yaml.SafeLoader):
                if isinstance(token, (yaml.AnchorToken, yaml.AliasToken)):
                    # refused outright: an alias repeats a node, and nested ones can explode in size
                    reporter.add("E0002", _span(file, token.start_mark))
                    return None
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as err:
        if "maximum nesting depth" in str(err.problem):  # libyaml's own guard against deep nesting
            reporter.add("E0008", Span(file, 1, 1))
            return None
        mark = err.problem_mark or err.context_mark
        span = _span(file, mark) if mark else Span(file, 1, 1)
        reporter.add("E0001", span, problem=yaml_problem(err.problem or str(err)))
        return None
    except yaml.YAMLError as err:
        reporter.add("E0001", Span(file, 1, 1), problem=str(err))
        return None
    except RecursionError:
        reporter.add("E0008", Span(file, 1, 1))
        return None
    spans: dict[Path_, Span] = {}
    problems: list[tuple[Span, str, dict]] = []  # (span, code, message arguments)

    def build(n, path: Path_):
        spans[path] = _span(file, n.start_mark)
        if isinstance(n, yaml.MappingNode):
            out = {}
            for k, v in n.value:
                key = _scalar(k, key=True) if isinstance(k, yaml.ScalarNode) else None
                if not isinstance(key, (str, int)) or isinstance(key, bool):
                    problems.append((_span(file, k.start_mark), "E0003", {}))
                    continue
                key = str(key)
                if _unsafe(key):
                    problems.append((_span(file, k.start_mark), "E0009", {"what": "键", "char": _unsafe(key)}))
                if key in out:
                    problems.append((_span(file, k.start_mark), "E0004", {"key": shown(key)}))
                spans[("#key",) + path + (key,)] = _span(file, k.start_mark)
                out[key] = build(v, path + (key,))
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(v, path + (i,)) for i, v in enumerate(n.value)]
        value = _scalar(n)
        if isinstance(value, OutOfRange):
            problems.append((spans[path], "E0018", {"value": shown(value.text, 40), "detail": value.detail}))
            return None
        if isinstance(value, str) and _unsafe(value):
            problems.append((spans[path], "E0009", {"what": "文字", "char": _unsafe(value)}))
        elif isinstance(value, str) and len(value) > TEXT_MAX:
            problems.append((spans[path], "E0016", {"where": shown("/".join(map(str, path))) or "（文件顶层）",
                                                    "detail": f"文字过长（{len(value)} 个字，最多 {TEXT_MAX} 个字）"}))
        return value

    if node is None:
        return Located(file, None, {(): Span(file, 1, 1)})
    try:
        data = build(node, ())
    except RecursionError:
        reporter.add("E0008", Span(file, 1, 1))
        return None
    for span, code, args in problems:
        reporter.add(code, span, **args)
    if any(code in ("E0009", "E0016", "E0018") for _, code, _ in problems):
        return None  # nothing downstream may see such text
    return Located(file, data, spans)


def _unsafe(value: str) -> str | None:
    """The first character a text must not contain, described, or None."""
    return next((describe_char(ch) for _, ch in unsafe_chars(value)), None)
