"""Third-party warnings that are known and harmless, kept off the terminal of the command line.

Each filter names the category, the module that warns and the start of the message, so every other warning
(bayesmeta's own, and any new one from a library) still shows.
"""

from __future__ import annotations

import warnings

# (message regex, category, module regex, why it is harmless)
KNOWN_HARMLESS: tuple[tuple[str, type[Warning], str, str], ...] = (
    (
        r"\s*ArviZ is undergoing a major refactor",
        FutureWarning,
        r"arviz(\.|$)",
        "ArviZ announces its coming 1.0 refactor once a day on import; nothing here depends on what will change",
    ),
)


def silence_known_warnings() -> None:
    """Ignore the warnings of :data:`KNOWN_HARMLESS` (and only those)."""
    for message, category, module, _why in KNOWN_HARMLESS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)
