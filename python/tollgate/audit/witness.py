"""The witness: a file or an ``http(s)://`` URL that gets a copy of every checkpoint."""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from .files import _replace_file, _text
from .checkpoint import _parse_checkpoint


WITNESS_TIMEOUT_S = 5.0
"""How long a witness delivery (POST) or read (GET) may take."""


def _is_url(witness: str) -> bool:
    head = witness[:8].lower()
    return head.startswith("http://") or head.startswith("https://")


def _http() -> Any:
    """A urllib opener that goes straight to the witness (no proxy from the environment, as Node's ``fetch``)."""
    import urllib.request

    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _deliver_witness(witness: str, data: bytes) -> None:
    """Sends one checkpoint line to the witness: atomically replaces the file, or POSTs it to the URL."""
    if _is_url(witness):
        import urllib.request

        req = urllib.request.Request(witness, data=data, method="POST", headers={"content-type": "application/json"})
        with _http().open(req, timeout=WITNESS_TIMEOUT_S) as resp:
            resp.read()
    else:
        _replace_file(witness, data)


def _fetch_witness(witness: str) -> bytes:
    """The witness's checkpoint: the file's bytes, or the body of a GET of the URL."""
    if _is_url(witness):
        import urllib.request

        req = urllib.request.Request(witness, method="GET", headers={"accept": "application/json"})
        with _http().open(req, timeout=WITNESS_TIMEOUT_S) as resp:
            return resp.read()
    with open(witness, "rb") as f:
        return f.read()


def _read_witness(witness: str, absent_ok: bool = False) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """The witness's checkpoint, or what is wrong (as Node's ``readWitness``).

    ``absent_ok``: a witness file that does not exist, or a URL that answers 404, is
    ``(None, None)`` (open: nothing delivered yet).
    """
    try:
        data = _fetch_witness(witness)
    except FileNotFoundError as err:
        if absent_ok and not _is_url(witness):
            return None, None
        return None, f"cannot read the witness {witness}: {err}"
    except Exception as err:
        code = getattr(err, "code", None)
        if type(code) is int and hasattr(err, "headers"):  # urllib's HTTPError: the witness answered
            if absent_ok and code == 404:
                return None, None
            return None, f"the witness {witness} answered {code}"
        reason = getattr(err, "reason", None)
        return None, f"cannot read the witness {witness}: {reason if reason is not None else err}"
    c, err = _parse_checkpoint(_text(data), "checkpoint")
    if err is not None:
        return None, f"the witness {witness}: {err}"
    return c, None
