"""Where Optuna keeps the studies: a journal file in the output folder by default, or any
storage URL Optuna accepts (``sqlite:///...``, ``postgresql://...``).

A journal file is Optuna's append-only log storage: finished trials survive a killed
process, and several local processes can share it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import optuna

from automl.api.errors import AutomlError

DEFAULT_JOURNAL = "optuna.journal"


def open_storage(url: str | None, output_dir: Path) -> optuna.storages.BaseStorage:
    """Open the storage named by `url` (None: the default journal in `output_dir`)."""
    if url is None:
        return _journal(output_dir / DEFAULT_JOURNAL)
    if "://" not in url:
        if LOOKS_LIKE_URL.match(url):
            raise AutomlError(f"the storage {redact(url)} looks like a database URL but "
                              "has no '://', so it is neither a URL nor a journal path",
                              key="storage", expected="a database URL such as "
                              "postgresql://user@host/db, or a journal file path")
        return _journal(Path(url))
    try:
        return _database(url)
    except Exception as error:  # SQLAlchemy raises many types for bad URLs and servers
        raise AutomlError(f"cannot open the storage {redact(url)} "
                          f"({type(error).__name__}: {redact(str(error))})",
                          expected="a database URL such as sqlite:///study.db or "
                          "postgresql://user@host/db, or a journal file path") from None


def _database(url: str, attempts: int = 5) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage. Workers starting together on an empty database race to
    create Optuna's tables; the losers see an IntegrityError and retry, finding them."""
    import sqlalchemy.exc
    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url)
        except sqlalchemy.exc.IntegrityError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _journal(path: Path) -> optuna.storages.JournalStorage:
    path.parent.mkdir(parents=True, exist_ok=True)
    backend = optuna.storages.journal.JournalFileBackend(
        str(path), lock_obj=optuna.storages.journal.JournalFileOpenLock(str(path)))
    return optuna.storages.JournalStorage(backend)


LOOKS_LIKE_URL = re.compile(r"^([a-z][a-z0-9+.-]+:|[^/\\]*:[^/\\]*@)", re.IGNORECASE)
"""A scheme of two letters or more and a colon (``postgresql:/host``; one letter is a
Windows drive), or ``user:password@`` before any slash."""
PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*:)[^\s]*@")
"""``scheme://user:secret@`` and ``scheme://:secret@``, to the last ``@`` of the URL
(a password may hold ``@`` and ``/``)."""
PASSWORD_PARAMETER = re.compile(r"((?:^|[?&;\s])(?:password|passwd|pwd|sslpassword)=)"
                                r"[^&;\s'\"]*", re.IGNORECASE)
PASSWORD_WITHOUT_SCHEME = re.compile(r"(^|[\s'\"=/])([^\s/'\"=:@]+:)[^\s/'\"@]+@")


def redact(text: str) -> str:
    """`text` with every password a storage URL can carry replaced by ``***``:
    ``user:secret@`` and ``:secret@`` after ``://``, ``user:secret@`` without a scheme,
    and ``password=`` (or ``pwd=``, ``passwd=``, ``sslpassword=``) parameters."""
    text = PASSWORD_IN_URL.sub(r"\1***@", text)
    text = PASSWORD_WITHOUT_SCHEME.sub(r"\1\2***@", text)
    return PASSWORD_PARAMETER.sub(r"\1***", text)


def describe(url: str | None, output_dir: Path) -> str:
    """The storage as it may be shown in reports and logs."""
    return redact(url) if url else str(output_dir / DEFAULT_JOURNAL)
