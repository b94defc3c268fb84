"""A population of households for `policyc impact`: read from JSONL, CSV or Parquet, each row a request in the
format of generated/schemas/household.schema.json (docs/impact.md "人口文件"). Numbers are read exactly (Decimal, never
float); every row keeps where it came from (file:line) so that errors, found here or by the runtime's request
conversion, name the row and the JSON path."""
from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from ..runtime import jsonio

MAX_LISTED = 20  # problems listed in one error; the rest are counted


@dataclass
class Household:
    where: str  # "people.jsonl:12", "people.csv:3", "people.parquet:第 5 行", "合成#17"
    request: dict


@dataclass
class Population:
    households: list[Household]
    source: str  # the file, or "synthetic"
    seed: int | None = None
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.households)


class PopulationError(Exception):
    """A population that cannot be read or whose rows are not valid requests: each problem names the row and the
    JSON path."""

    def __init__(self, problems: list[str], total: int | None = None):
        self.problems = problems
        self.total = total = len(problems) if total is None else total
        more = f"\n  ……另有 {total - len(problems)} 个问题" if total > len(problems) else ""
        super().__init__("人口文件有错误：\n" + "\n".join(f"  {p}" for p in problems) + more)


def row_problems(where: str, problems) -> list[str]:
    """The runtime's (JSON path, message) problems of one row, as lines naming the row."""
    return [f"{where}: {path}: {message}" for path, message in problems]


def raise_invalid(population: Population, invalid: list[tuple[int, list]]) -> None:
    """Raises PopulationError for rows (index, [(path, message)]) the runtime refused."""
    if not invalid:
        return
    lines: list[str] = []
    for index, problems in invalid:
        lines += row_problems(population.households[index].where, problems)
    raise PopulationError(lines[:MAX_LISTED], total=len(lines))


def validate(population: Population, evaluator, date=None) -> None:
    """Every row converted as the runtime converts a request (locality, date and facts); PopulationError lists
    the rows that are not valid requests for this evaluator's version."""
    from ..runtime.errors import InputError
    invalid = []
    for i, h in enumerate(population.households):
        problems = []
        try:
            evaluator.convert(h.request)
        except InputError as err:
            problems += err.problems
        loc = h.request.get("locality")
        try:
            evaluator.resolve_locality(loc)
        except InputError as err:
            problems += err.problems
        if date is None and not _is_date(h.request.get("date")):
            problems.append(("$.date", "缺少或不是日期 YYYY-MM-DD"))
        if problems:
            invalid.append((i, problems))
    raise_invalid(population, invalid)


def _is_date(value) -> bool:
    try:
        return isinstance(value, str) and len(value) == 10 and bool(dt.date.fromisoformat(value))
    except ValueError:
        return False


def read_population(path: str | Path) -> Population:
    """The households in `path`, by its suffix: .jsonl / .ndjson, .csv, .parquet."""
    path = Path(path)
    if not path.is_file():
        raise PopulationError([f"{path}: 文件不存在"])
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        households = _read_jsonl(path)
    elif suffix == ".csv":
        households = _read_csv(path)
    elif suffix == ".parquet":
        households = _read_parquet(path)
    else:
        raise PopulationError([f"{path}: 无法识别的人口文件格式“{suffix}”（支持 .jsonl、.csv、.parquet）"])
    if not households:
        raise PopulationError([f"{path}: 文件中没有家庭"])
    return Population(households, str(path))


def _read_jsonl(path: Path) -> list[Household]:
    out, problems = [], []
    with path.open("rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                request = jsonio.loads(line)
            except (ValueError, UnicodeDecodeError) as err:
                problems.append(f"{where}: 不是有效的 JSON（{err}）")
                continue
            if not isinstance(request, dict):
                problems.append(f"{where}: $: 每行应为一个 JSON 对象（一个评估请求）")
                continue
            out.append(Household(where, request))
    _stop(problems)
    return out


def _stop(problems: list[str]) -> None:
    if problems:
        raise PopulationError(problems[:MAX_LISTED], total=len(problems))


def _cell(where: str, column: str, text: str, problems: list[str]):
    """A CSV or Parquet text cell: empty = left out; JSON objects, arrays, numbers, true/false/null as JSON;
    anything else as text (a locality name, a date)."""
    text = text.strip()
    if text == "":
        return _ABSENT
    if text[0] in "{[-0123456789" or text in ("true", "false", "null"):
        try:
            return jsonio.loads(text)
        except ValueError as err:
            if text[0] in "{[":
                problems.append(f"{where}: $.{column}: 不是有效的 JSON（{err}）")
                return _ABSENT
    return text


_ABSENT = object()


def _row(where: str, row: dict, problems: list[str]) -> Household | None:
    """One row of columns: either a single `request` column with the whole request as JSON, or one column per
    top-level request field (locality, date, household, incident, application)."""
    if "request" in row:
        value = row["request"]
        request = _cell(where, "request", value, problems) if isinstance(value, str) else value
        if request is _ABSENT or not isinstance(request, dict):
            problems.append(f"{where}: $: request 列应为一个 JSON 对象（评估请求）")
            return None
        return Household(where, request)
    request = {}
    for column, value in row.items():
        if column is None:  # a CSV row with more cells than the header
            problems.append(f"{where}: 该行的列数多于表头")
            continue
        if isinstance(value, str):
            value = _cell(where, column, value, problems)
            if column == "locality" and isinstance(value, (int, Decimal)):
                value = str(value)
        elif value is None:
            value = _ABSENT
        if value is not _ABSENT:
            request[column] = value
    return Household(where, request)


def _read_csv(path: Path) -> list[Household]:
    out, problems = [], []
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames:
                raise PopulationError([f"{path}:1: 缺少表头（列名：request，或 locality、date、household …）"])
            for row in reader:
                h = _row(f"{path}:{reader.line_num}", row, problems)
                if h is not None:
                    out.append(h)
    except UnicodeDecodeError as err:
        raise PopulationError([f"{path}: 不是 UTF-8 编码的文本（{err.reason}）"]) from None
    except csv.Error as err:
        raise PopulationError([f"{path}: CSV 格式错误（{err}）"]) from None
    _stop(problems)
    return out


def _read_parquet(path: Path) -> list[Household]:
    try:
        import pyarrow.parquet as pq
    except ModuleNotFoundError:
        raise PopulationError([f"{path}: 读取 Parquet 文件需要 pyarrow：请安装 pip install 'policyc[review]'"]) \
            from None
    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises its own ArrowInvalid / OSError family
        raise PopulationError([f"{path}: 无法读取 Parquet 文件（{err}）"]) from None
    out, problems = [], []
    for n, row in enumerate(table.to_pylist(), 1):
        where = f"{path}:第 {n} 行"
        floats = list(_floats(row, "$"))
        if floats:
            problems += [f"{where}: {p}: 数值为浮点数（double），金额须精确：请用 decimal 类型或 JSON 文本列"
                         for p in floats]
            continue
        h = _row(where, _dates_as_text(row), problems)
        if h is not None:
            out.append(h)
    _stop(problems)
    return out


def _dates_as_text(value):
    """Parquet date columns become the request's ISO date text."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _dates_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates_as_text(v) for v in value]
    return value


def _floats(value, path: str):
    """JSON paths of float values (Parquet double columns), which are refused: money is exact."""
    if isinstance(value, float):
        yield path
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _floats(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _floats(v, f"{path}[{i}]")


def write_jsonl(population: Population, path: str | Path) -> None:
    """The population as JSONL (one request a line), e.g. a synthetic population kept for later runs."""
    with open(path, "w", encoding="utf-8") as f:
        for h in population.households:
            f.write(jsonio.dumps(h.request, indent=None) + "\n")
