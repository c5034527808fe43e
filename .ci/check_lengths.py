#!/usr/bin/env python3
"""Prints every `src/` file over 500 lines and every non-test function over 80 lines, and exits 1
when there is any (tests and benches are exempt: `tests/`, `benches/`, `#[cfg(test)]` modules).

A function's length is counted from its `fn` line to its closing brace. The scan is lexical:
strings, chars, raw strings and comments are skipped so braces inside them do not count.
"""
import pathlib
import re
import sys

MAX_FILE_LINES = 500
MAX_FN_LINES = 80
FN_RE = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?((const|async|unsafe|extern\s+\"[^\"]*\")\s+)*fn\s+(\w+)")
CFG_TEST_RE = re.compile(r"^\s*#\[cfg\(test\)\]")


def code_only(text):
    """The text with comments, strings and char literals blanked (newlines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif (m := re.match(r'b?r(#*)"', text[i:i + 300])) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            end = '"' + m.group(1)
            j = text.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "'" and (m := re.match(r"'(\\.[^']*|[^\\'])'", text[i:i + 12])):
            out.append(" " * m.end())
            i += m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


def block_end(lines, start):
    """Index of the line closing the first `{` at or after `start` (or None for `fn x();`)."""
    depth, opened = 0, False
    for k in range(start, len(lines)):
        for ch in lines[k]:
            if ch == "{":
                depth, opened = depth + 1, True
            elif ch == "}":
                depth -= 1
                if opened and depth == 0:
                    return k
            elif ch == ";" and not opened and depth == 0:
                return None
    return None


def scan(path):
    text = path.read_text()
    lines = code_only(text).split("\n")
    problems = []
    count = len(text.rstrip("\n").split("\n"))
    if count > MAX_FILE_LINES:
        problems.append(f"{path}: {count} lines (max {MAX_FILE_LINES})")
    k = 0
    while k < len(lines):
        if CFG_TEST_RE.match(lines[k]):
            # Skip the test item that follows (a module or a function).
            j = k + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            end = block_end(lines, j)
            k = (end if end is not None else j) + 1
            continue
        m = FN_RE.match(lines[k])
        if m:
            end = block_end(lines, k)
            if end is not None:
                length = end - k + 1
                if length > MAX_FN_LINES:
                    problems.append(f"{path}:{k + 1}: fn {m.group(5)} is {length} lines (max {MAX_FN_LINES})")
        k += 1
    return problems


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    problems = []
    for path in sorted(root.glob("**/src/**/*.rs")):
        if "target" in path.parts or ".cache" in path.parts:
            continue
        problems.extend(scan(path))
    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} over the limits: split by concern (see docs/ARCHITECTURE.md)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
