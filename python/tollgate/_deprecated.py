"""Old names kept as deprecated aliases (docs/abi.md, "Names in the hosts")."""

from __future__ import annotations

import warnings
from typing import Any, Callable, Dict, Tuple


def warn(old: str, new: str, stacklevel: int = 3) -> None:
    """Warn that ``old`` is deprecated in favour of ``new``."""
    warnings.warn(f"{old} is deprecated: use {new} (docs/abi.md, 'Names in the hosts')", DeprecationWarning, stacklevel=stacklevel)


def deprecated_names(module: str, aliases: Dict[str, Tuple[str, Callable[[], Any]]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) serving ``aliases``: old name -> (new name, getter)."""

    def __getattr__(name: str) -> Any:
        entry = aliases.get(name)
        if entry is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        new, get = entry
        warn(f"{module}.{name}", f"{module}.{new}")
        return get()

    return __getattr__
