"""Known, harmless third-party warnings stay off the command line's terminal; every other warning still shows."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

from bayesmeta.quiet import silence_known_warnings

ARVIZ_TEXT = "\nArviZ is undergoing a major refactor to improve flexibility and extensibility"


def _shown(message: str, category: type[Warning], module: str) -> bool:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_known_warnings()
        warnings.warn_explicit(message, category, filename=f"{module}.py", lineno=1, module=module)
    return bool(caught)


def test_only_the_known_warning_is_silenced():
    assert not _shown(ARVIZ_TEXT, FutureWarning, "arviz")
    # the same text from elsewhere, another warning from ArviZ, and bayesmeta's own warnings still show
    assert _shown(ARVIZ_TEXT, FutureWarning, "bayesmeta.posterior")
    assert _shown("hdi currently interprets 2d data as (draw, shape)", FutureWarning, "arviz.stats.stats")
    assert _shown(ARVIZ_TEXT, UserWarning, "arviz")
    assert _shown("R-hat reaches 1.02", UserWarning, "bayesmeta.mcmc.diagnostics")


def test_arviz_import_is_quiet_with_the_filter(tmp_path):
    """One fresh process (ArviZ warns on the first import of the day, remembered in the user cache: it gets a
    fresh one) imports ArviZ with the filter: ArviZ does issue its notice (recorded as it is issued, so the
    filter is checked against ArviZ's real text), and nothing reaches stderr. Matplotlib keeps its font list in
    this process's cache folder (else it rebuilds it, and a rebuild slower than 5 s on a loaded machine prints
    "Matplotlib is building the font cache")."""
    import matplotlib

    code = (
        "import warnings\n"
        "from bayesmeta.quiet import silence_known_warnings\n"
        "silence_known_warnings()\n"
        "issued, _warn = [], warnings.warn\n"
        "def recording(message, category=None, stacklevel=1, **kw):\n"
        "    issued.append(str(message))\n"
        "    return _warn(message, category, stacklevel + 1, **kw)\n"
        "warnings.warn = recording\n"
        "import arviz\n"
        "print(sum('ArviZ is undergoing' in m for m in issued))\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "MPLCONFIGDIR": matplotlib.get_cachedir()}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "1"  # the notice was issued ...
    assert done.stderr == ""  # ... and silenced
