"""Loading jieba 0.42.1 once, quietly (wecom-facts §8), for free-text suggestions and the relay.

jieba emits a `pkg_resources` UserWarning (setuptools 80–81), SyntaxWarnings when its sources
are compiled afresh, leaves files to the garbage collector, and logs to stderr on its own
handler; under `-W error` any of these would break start-up. Importing it inside
`quiet_jieba()` and building a private tokenizer with `domain_tokenizer()` avoids all that.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def quiet_jieba() -> Iterator[None]:
    """Import jieba (or jieba.analyse) inside this block."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=SyntaxWarning)
        warnings.filterwarnings("ignore", category=ResourceWarning)
        yield


_TOKENIZERS: dict[Path, Any] = {}
_LOADING = threading.Lock()


def domain_tokenizer(dict_path: Path) -> Any:
    """A private `jieba.Tokenizer` with the domain dictionary (slow: ~1 s), built once per
    process and dictionary and then shared read-only (suggestions and the relay alike)."""
    key = dict_path.resolve()
    with _LOADING:
        if key not in _TOKENIZERS:
            _TOKENIZERS[key] = _build(dict_path)
        return _TOKENIZERS[key]


def _build(dict_path: Path) -> Any:
    with quiet_jieba():
        import jieba

        quiet = logging.getLogger("jieba")
        quiet.setLevel(logging.WARNING)
        for handler in list(quiet.handlers):  # its own stderr handler; ours see what's left
            quiet.removeHandler(handler)
        tokenizer = jieba.Tokenizer()
        tokenizer.initialize()
        with dict_path.open("rb") as stream:  # a path would be opened and never closed
            tokenizer.load_userdict(stream)
    return tokenizer
