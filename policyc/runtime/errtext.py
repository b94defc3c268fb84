"""Chinese wording for the errors the standard library reports in English: OS errors ("No such file or
directory") and JSON syntax errors ("Expecting value"). Standard library only: the runtime, the service and the
command line all use it."""
from __future__ import annotations

import errno
import json

# the errno values a policy officer meets, in words; any other keeps the system's own text (strerror)
OS_REASONS = {
    errno.ENOENT: "文件或目录不存在",
    errno.EACCES: "没有权限",
    errno.EPERM: "没有权限",
    errno.EISDIR: "是目录，不是文件",
    errno.ENOTDIR: "路径中的某一级不是目录",
    errno.EEXIST: "文件已存在",
    errno.ENOSPC: "磁盘空间不足",
    errno.EROFS: "只读文件系统",
    errno.ENAMETOOLONG: "文件名过长",
    errno.EMFILE: "打开的文件过多",
    errno.ENFILE: "打开的文件过多",
    errno.EBUSY: "文件正被占用",
    errno.EFBIG: "文件过大",
    errno.ELOOP: "符号链接层数过多",
    errno.EINVAL: "无效的参数",
    errno.EIO: "输入输出错误",
}
if hasattr(errno, "EDQUOT"):
    OS_REASONS[errno.EDQUOT] = "超出磁盘配额"


class NotRegularFile(OSError):
    """An output path that names a device, a pipe or a socket: it is never replaced by a file (runtime/atomic.py)."""

    def __init__(self, path: str):
        super().__init__(errno.EPERM, "not a regular file", path)


def os_reason(err: BaseException) -> str:
    """Why an OSError happened, in Chinese where the errno is a common one (else the system's own words)."""
    if isinstance(err, NotRegularFile):
        return "不是普通文件（设备、管道或套接字），不会被覆盖"
    if isinstance(err, UnicodeDecodeError):
        return "不是 UTF-8 编码的文本"
    code = getattr(err, "errno", None)
    if code in OS_REASONS:
        return OS_REASONS[code]
    return getattr(err, "strerror", None) or str(err) or type(err).__name__


def os_verb(err: BaseException) -> str:
    """读取 or 写入: what failed, as far as the error itself tells (a full disk or a read-only file system can
    only be a write; anything else is taken as a read unless the caller knows better)."""
    code = getattr(err, "errno", None)
    write = {errno.ENOSPC, errno.EROFS, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
    return "写入" if code in write else "读取"


def os_message(err: BaseException, verb: str | None = None) -> str:
    """`无法读取 <file>：<reason>` (or 写入, or `<file> → <file2>` for a rename) for an OSError."""
    verb = verb or os_verb(err)
    name = getattr(err, "filename", None)
    other = getattr(err, "filename2", None)
    if name is None:
        return f"无法{verb}：{os_reason(err)}"
    where = os_fspath(name) + (f" → {os_fspath(other)}" if other is not None else "")
    return f"无法{verb} {where}：{os_reason(err)}"


def os_fspath(name) -> str:
    if isinstance(name, bytes):
        return name.decode("utf-8", "backslashreplace")
    return str(name)


JSON_MESSAGES = {
    "Expecting value": "此处应为一个 JSON 值",
    "Expecting property name enclosed in double quotes": "此处应为用双引号括起的字段名",
    "Expecting ',' delimiter": "此处缺少逗号",
    "Expecting ':' delimiter": "此处缺少冒号",
    "Unterminated string starting at": "字符串没有结束",
    "Invalid control character": "字符串中有控制字符",
    "Invalid \\escape": "无效的转义序列",
    "Invalid \\uXXXX escape": "无效的 \\u 转义",
    "Extra data": "JSON 值之后还有多余的内容",
    "Unexpected UTF-8 BOM": "不应以 BOM（字节顺序标记）开头",
}


def json_problem(err: BaseException) -> str:
    """What is wrong with a JSON text, in Chinese: `第 L 行第 C 列：…` for a syntax error, the byte where UTF-8
    decoding failed, or the message of policyc's own refusals (NaN, overlong numbers), which is Chinese already."""
    if isinstance(err, json.JSONDecodeError):
        text = next((zh for en, zh in JSON_MESSAGES.items() if err.msg.startswith(en)), err.msg)
        return f"第 {err.lineno} 行第 {err.colno} 列：{text}"
    if isinstance(err, UnicodeDecodeError):
        return f"第 {err.start + 1} 个字节起不是有效的 UTF-8"
    if isinstance(err, RecursionError):
        return "JSON 嵌套过深"
    return str(err)
