r"""LaTeX text: `escape` plain text into LaTeX that pdfLaTeX typesets with its standard fonts, and
`text_width`, its width in Computer Modern (how `reproduce.report.latex` decides what fits a column).

`escape` writes TeX's specials as commands (\ & % $ # _ { } ~ ^, and < > |, which OT1 fonts print as
other glyphs), `code` spans as \texttt{code}, and numbers and symbols as math: x100 -> $\times$100,
tau -> $\tau$, 1e-06 -> $10^{-6}$, 8.4e+13 -> $8.4\times10^{13}$, -8.04 -> $-$8.04 (a hyphen stays
a hyphen inside words and ranges: top-10, Gemma-3-270M), ± -> $\pm$, ² -> $^2$, -> -> $\rightarrow$.
Its output is ASCII, so no text-mode symbol falls back to a bitmap (Type 3) font on a minimal TeX
install.

    >>> escape("main score x100, tau = 1e-06, -8.04 [`t2t.stats`]")
    'main score $\\times$100, $\\tau$ = $10^{-6}$, $-$8.04 [\\texttt{t2t.stats}]'
"""

from __future__ import annotations

import re
import unicodedata

_SPECIALS = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"$<$",  # OT1 text fonts print < > | as other glyphs
    ">": r"$>$",
    "|": r"$|$",
}
_SYMBOLS = {
    "±": r"$\pm$",
    "²": r"$^2$",
    "×": r"$\times$",
    "→": r"$\rightarrow$",
    "†": r"$^\dagger$",
    "‡": r"$^\ddagger$",
    "Δ": r"$\Delta$",
    "τ": r"$\tau$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "·": r"$\cdot$",
    "—": "---",
    "–": "--",
    "…": r"\dots{}",
    "’": "'",
}
_TEXT = re.compile(
    r"(?P<arrow>->)"
    r"|(?<![\w.])(?P<mantissa>\d+(?:\.\d+)?)e(?P<exponent>[+-]?\d+)(?![\w.])"  # 8.4e+13
    r"|(?<![\w.)\]-])-(?=\d)"  # a minus sign: -8.04, [-12.09
    r"|(?<!\w)x(?=\d)|(?<=\s)x(?=\s)"  # x100, 5 x 1,000
    r"|\btau\b"
    r'|"(?P<quoted>[^"]*)"'
    r"|[\\{}$&%#_~^<>|]"
    r"|[^\x00-\x7f]"
)


def _exponent(text: str) -> str:
    return str(int(text))  # "+13" -> 13, "-06" -> -6


def _text_token(match: re.Match) -> str:
    found = match.group()
    if match.group("arrow"):
        return r"$\rightarrow$"
    if match.group("mantissa"):
        mantissa, power = match.group("mantissa"), _exponent(match.group("exponent"))
        if float(mantissa) == 1:
            return rf"$10^{{{power}}}$"
        return rf"${mantissa}\times10^{{{power}}}$"
    if match.group("quoted") is not None:
        return f"``{escape(match.group('quoted'))}''"
    if found == "-":
        return "$-$"
    if found == "x":
        return r"$\times$"
    if found == "tau":
        return r"$\tau$"
    return _SPECIALS.get(found) or _SYMBOLS.get(found) or _ascii(found)


def _ascii(char: str) -> str:
    """A character outside ASCII with no mapping: its accent-free letter if it has one, else '?'."""
    base = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
    return base or "?"


def escape(text: str) -> str:
    """Plain text (a caption, label, note) as LaTeX: `code` spans in \\texttt, TeX's special
    characters escaped, and numbers and symbols as math (module docstring). Returns ASCII."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: a plain quote
        parts = "'".join(parts).split("`")
    out = []
    for index, part in enumerate(parts):
        if index % 2:
            code = re.sub(r"[\\{}$&%#_~^<>|]|[^\x00-\x7f]", lambda m: _SPECIALS.get(m.group()) or "?", part)
            out.append(rf"\texttt{{{code}}}")
        else:
            out.append(_TEXT.sub(_text_token, part))
    return "".join(out)


# ---------------------------------------------------------------- widths

# Computer Modern Roman at 10 pt (cmr10): pt per glyph (bold, cmbx10, is about 15% wider).
_GLYPHS = {
    char: width
    for chars, widths in (
        ("abcdefghijklm", (5.0, 5.56, 4.44, 5.56, 4.44, 3.06, 5.0, 5.56, 2.78, 3.06, 5.28, 2.78, 8.33)),
        ("nopqrstuvwxyz", (5.56, 5.0, 5.56, 5.28, 3.92, 3.94, 3.89, 5.56, 5.28, 7.22, 5.28, 5.28, 4.44)),
        ("ABCDEFGHIJKLM", (7.5, 7.08, 7.22, 7.64, 6.81, 6.53, 7.85, 7.5, 3.61, 5.14, 7.78, 6.25, 9.17)),
        ("NOPQRSTUVWXYZ", (7.5, 7.78, 6.81, 7.78, 7.36, 5.56, 7.22, 7.5, 7.5, 10.28, 7.5, 7.5, 6.11)),
        ("0123456789", (5.0,) * 10),
        (
            " .,:;()[]-+=/'*!?",
            (3.33, *(2.78,) * 4, 3.89, 3.89, 2.78, 2.78, 3.33, 7.78, 7.78, 5.0, 2.78, 5.0, 2.78, 4.72),
        ),
    )
    for char, width in zip(chars, widths, strict=True)
}
_COMMANDS = {  # LaTeX commands `escape` writes, as the width they print (pt at 10 pt)
    r"\times": 12.22,  # with the spaces of a binary operator: 8.4\times10^{13}
    r"\pm": 7.78,
    r"\rightarrow": 10.0,
    r"\Delta": 8.33,
    r"\tau": 4.38,
    r"\cdot": 2.78,
    r"\dagger": 4.44,
    r"\ddagger": 4.44,
    r"\dots": 8.33,
    r"\%": 8.33,
    r"\&": 7.78,
}
_SILENT = {"{", "}", "$", r"\textbf", r"\texttt", r"\scriptsize", r"\,"}
_SIZE_FACTOR = {10.0: 1.0, 9.0: 1.028, 8.0: 1.0625, 7.0: 1.14}  # cmr9, 8, 7 against scaled cmr10
_TOKENS = re.compile(r"\^\{([^}]*)\}|\^(\\[A-Za-z]+|.)|\\hspace\{(\d*\.?\d+)em\}|(\\[A-Za-z]+|\\.|.)")


def text_width(latex: str, size: float = 10.0, bold: bool = False) -> float:
    """Estimated width (pt) of a line of `escape`d LaTeX at `size` pt (10, 9, 8 or 7): Computer
    Modern's glyph widths, commands by what they print, superscripts at 70%, bold 15% wider.

        >>> round(text_width("67.47", 9.0), 1)  # pdfLaTeX at \\small: 21.07 pt
        21.1
    """

    def measure(text: str) -> float:
        total = 0.0
        for group, single, space, token in _TOKENS.findall(text):
            if group or single:
                total += 0.7 * measure(group or single)
            elif space:
                total += 10.0 * float(space)
            elif token not in _SILENT:
                total += _COMMANDS.get(token, 5.0) if token.startswith("\\") else _GLYPHS.get(token, 5.0)
        return total

    return measure(latex) * size / 10 * _SIZE_FACTOR[size] * (1.15 if bold else 1.0)
