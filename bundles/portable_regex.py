"""The regular expressions `matches` accepts: a subset both engines run the same way.

OPA uses Go's RE2; regopy 1.5.2 uses its own backtracking matcher that lacks inline flags,
named groups, \\p classes, \\A/\\z, \\Q..\\E, escapes such as \\t or \\x41, treats a leading `]`
in a class and `{` without a valid count differently, and takes exponential time on nested
quantifiers (`^(a+)+$` on 32 characters runs 44 s). So a pattern is printable ASCII built from
literals, `.`, `^`, `$`, classes, groups `(...)`/`(?:...)`, `|`, the escapes below, and the
quantifiers `* + ? {n} {n,} {n,m}` (counts up to 1000, optionally lazy), where a quantified group
may contain neither a quantifier nor `|`, with at most two open-ended repeats when anchored with
`^` and one otherwise. The Rego side (`lib.matches`) only matches plain text of at most 256
characters, so `.`, `\\w` and anchors never meet newlines or non-ASCII characters.
"""

from __future__ import annotations

import re
import warnings

MAX_PATTERN_LENGTH = 256
MAX_REPEAT = 1000
SHORT_REPEAT = 16
# regopy backtracks: two open-ended repeats cost ~2 ms on a 256-character subject when the
# pattern is anchored at ^, ~80 ms when it is not (it retries from every position).
MAX_OPEN_REPEATS_ANCHORED = 2
MAX_OPEN_REPEATS_UNANCHORED = 1
ESCAPABLE_PUNCTUATION = set(".^$*+?()[]{}|\\/-")
CLASS_ESCAPES = set("dDwWsS")
ASSERTION_ESCAPES = set("bB")
QUANTIFIER_START = set("*+?{")


class _Scanner:
    """Walks the pattern once, checking each construct and tracking group contents."""

    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0
        self.open_repeats = 0  # quantifiers that may repeat more than SHORT_REPEAT times

    def fail(self, reason: str) -> ValueError:
        return ValueError(f"{reason} at position {self.i}")

    def peek(self) -> str:
        return self.p[self.i] if self.i < len(self.p) else ""

    def escape(self, in_class: bool) -> None:
        self.i += 1
        c = self.peek()
        if not c:
            raise self.fail("pattern ends with a lone backslash")
        allowed = ESCAPABLE_PUNCTUATION | CLASS_ESCAPES | (set() if in_class else ASSERTION_ESCAPES)
        if c not in allowed:
            raise self.fail(
                f"escape \\{c} is not supported (use \\d \\w \\s \\D \\W \\S \\b \\B or an "
                "escaped punctuation character)"
            )
        self.i += 1

    def char_class(self) -> None:
        self.i += 1  # [
        if self.peek() == "^":
            self.i += 1
        if self.peek() == "]":
            raise self.fail("a literal ] in a class must be escaped as \\]")
        while True:
            c = self.peek()
            if not c:
                raise self.fail("unterminated character class")
            if c == "]":
                self.i += 1
                return
            if c == "[":
                raise self.fail("a literal [ in a class must be escaped as \\[")
            if c == "\\":
                self.escape(in_class=True)
            else:
                self.i += 1

    def quantifier(self) -> None:
        """Consume one quantifier (the caller saw its first character)."""
        if self.peek() == "{":
            m = re.compile(r"\{(\d+)(,(\d*))?\}").match(self.p, self.i)
            if not m:
                raise self.fail("a literal { must be escaped as \\{")
            low = int(m.group(1))
            high = int(m.group(3)) if m.group(3) else (low if m.group(2) is None else MAX_REPEAT)
            if max(low, high) > MAX_REPEAT:
                raise self.fail(f"repeat counts above {MAX_REPEAT} are not supported")
            self.open_repeats += high > SHORT_REPEAT
            self.i = m.end()
        else:
            self.open_repeats += self.peek() in "*+"
            self.i += 1
        if self.peek() == "?":
            self.i += 1  # lazy: same match/no-match answer
        if self.peek() and self.peek() in QUANTIFIER_START:
            raise self.fail("a quantifier may not follow another quantifier")

    def sequence(self, depth: int) -> tuple[bool, bool]:
        """Parse until `)` or the end; returns (has_quantifier, has_alternation)."""
        has_quant = has_alt = False
        can_repeat = False
        while self.i < len(self.p):
            c = self.peek()
            if c == ")":
                if depth == 0:
                    raise self.fail("unbalanced )")
                return has_quant, has_alt
            if c == "|":
                has_alt = True
                can_repeat = False
                self.i += 1
                continue
            if c in QUANTIFIER_START:
                if c == "{" and not re.compile(r"\{\d").match(self.p, self.i):
                    raise self.fail("a literal { must be escaped as \\{")
                if not can_repeat:
                    raise self.fail("quantifier without anything to repeat")
                self.quantifier()
                has_quant = True
                can_repeat = False
                continue
            if c == "}":
                raise self.fail("a literal } must be escaped as \\}")
            if c == "(":
                group_quant, group_alt = self.group(depth)
                has_quant |= group_quant
                has_alt |= group_alt
                if self.peek() and self.peek() in QUANTIFIER_START:
                    if group_quant or group_alt:
                        raise self.fail(
                            "a repeated group may not contain a quantifier or | "
                            "(nested repetition backtracks exponentially in regopy)"
                        )
                can_repeat = True
                continue
            if c == "[":
                self.char_class()
            elif c == "\\":
                assertion = self.p[self.i + 1 : self.i + 2] in ASSERTION_ESCAPES
                self.escape(in_class=False)
                can_repeat = not assertion
                continue
            else:
                self.i += 1
            can_repeat = c not in "^$"
        if depth > 0:
            raise self.fail("unbalanced (")
        return has_quant, has_alt

    def group(self, depth: int) -> tuple[bool, bool]:
        """Parse `(...)` or `(?:...)`; returns whether it holds a quantifier, an alternation."""
        self.i += 1  # (
        if self.peek() == "?":
            if self.p[self.i : self.i + 2] != "?:":
                raise self.fail(
                    "only (...) and (?:...) groups are supported "
                    "(no lookaround, named groups or inline flags)"
                )
            self.i += 2
        inner = self.sequence(depth + 1)
        if self.peek() != ")":
            raise self.fail("unbalanced (")
        self.i += 1
        return inner


def check_pattern(pattern: str) -> None:
    """Raise ValueError naming the first construct of `pattern` outside the portable subset."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(f"pattern longer than {MAX_PATTERN_LENGTH} characters")
    for index, char in enumerate(pattern):
        if not (" " <= char <= "~"):
            raise ValueError(
                f"character {char!r} at position {index}: patterns are printable ASCII"
            )
    scanner = _Scanner(pattern)
    scanner.sequence(0)
    limit = MAX_OPEN_REPEATS_ANCHORED if pattern.startswith("^") else MAX_OPEN_REPEATS_UNANCHORED
    if scanner.open_repeats > limit:
        raise ValueError(
            f"at most {limit} open-ended repeats (*, +, {{n,}}, {{n,m}} with m > {SHORT_REPEAT}) "
            + (
                "in a pattern anchored with ^"
                if pattern.startswith("^")
                else "unless anchored with ^"
            )
            + ": regopy's backtracking matcher slows down sharply beyond that"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FutureWarning on [[ ... ]]; refused above anyway
            re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
