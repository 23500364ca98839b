"""Where a prefix of a JSON document can be cut and closed into valid JSON."""

from __future__ import annotations

import collections

_CLOSERS = {"{": "}", "[": "]"}


def cuts(prefix: str, keep: int = 8) -> tuple[list[tuple[int, str]], str]:
    """The last value boundaries of a JSON prefix, and what it leaves open at its end.

    Args:
      prefix: the start of a JSON document (e.g. up to a decoding error's position).
      keep: how many boundaries to return, the last ones.

    Returns:
      ``[(cut, closers), ...]``: ``prefix[:cut] + closers`` is a complete document for
      each (cut before a comma or after a closing bracket), in order; and the closers
      ``prefix`` itself still needs ("" if it opens nothing it does not close).

    Examples:
      >>> cuts('{"a": [1, 2')
      ([(8, ']}')], ']}')
    """
    found: collections.deque = collections.deque(maxlen=keep)
    stack: list[str] = []
    in_string = escaped = False
    for i, ch in enumerate(prefix):
        if in_string:
            escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in _CLOSERS:
            stack.append(_CLOSERS[ch])
        elif ch in "]}" and stack:
            stack.pop()
            found.append((i + 1, "".join(reversed(stack))))
        elif ch == ",":
            found.append((i, "".join(reversed(stack))))
    return list(found), "".join(reversed(stack))
