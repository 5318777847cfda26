"""Compilation feedback: whether Python can compile the candidate, and where it cannot."""

from __future__ import annotations

NO_SYNTAX_ERRORS = "The code compiles: Python found no syntax errors."


def compiles(code: str) -> bool:
    """Whether ``compile()`` accepts the code (nothing is run)."""
    try:
        compile(code, "solution.py", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def compilation_feedback(code: str, filename: str = "solution.py") -> str:
    """What ``compile()`` says about the code: the error with its line, or ``NO_SYNTAX_ERRORS``.

    The offending line is quoted with a caret under the column, as Python prints it, so that a
    reader (model or simulated user) need not count lines.
    """
    try:
        compile(code, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        kind = type(exc).__name__
        where = f" at line {exc.lineno} of" if exc.lineno else " in"
        lines = [f"{kind}{where} {filename}: {exc.msg}"]
        source_line = exc.text.rstrip("\n") if exc.text else ""
        if source_line.strip():
            stripped = source_line.lstrip()
            lines.append(f"    {stripped}")
            if exc.offset and exc.offset > 0:
                column = exc.offset - 1 - (len(source_line) - len(stripped))
                if 0 <= column <= len(stripped):
                    lines.append("    " + " " * column + "^")
        return "\n".join(lines)
    except ValueError as exc:  # source with NUL bytes
        return f"{type(exc).__name__} in {filename}: {exc}"
    return NO_SYNTAX_ERRORS
