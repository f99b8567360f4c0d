"""The text `bench quality` scores: the shipped public-domain default, or the user's own file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from contract.errors import BenchError

DEFAULT_TEXT = Path(__file__).with_name("texts") / "persuasion-ch1-6.txt"
DEFAULT_SOURCE = ("Jane Austen, Persuasion (1818), chapters 1-6; public domain; from Debian's r-cran-janeaustenr "
                  "1.0.0-1, which took it from Project Gutenberg ebook #105 (bench/quality/texts/SOURCE.md)")


@dataclass(frozen=True)
class Text:
    body: str
    name: str
    source: str          # where it came from, in words
    default: bool


class TextError(BenchError):
    """The --text file cannot be read as text."""


def load_text(path: Path | None) -> Text:
    if path is None:
        return Text(DEFAULT_TEXT.read_text(encoding="utf-8"), DEFAULT_TEXT.name, DEFAULT_SOURCE, True)
    path = Path(path)
    try:
        body = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TextError(f"no such text file: {path}", "pass --text with a UTF-8 text file, or leave it out "
                                                       "for the shipped public-domain text") from None
    except UnicodeDecodeError as exc:
        raise TextError(f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason})",
                        "convert it to UTF-8, e.g. iconv -t utf-8") from None
    except OSError as exc:
        raise TextError(f"cannot read {path}: {exc.strerror or exc}", "pass --text with a readable file") from None
    if not body.strip():
        raise TextError(f"{path} is empty", "pass --text with the text to score")
    return Text(body, path.name, f"your file {path}", False)
