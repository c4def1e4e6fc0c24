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


def _import_arviz(tmp_path, prelude: str) -> str:
    # ArviZ warns on the first import of the day, remembered in the user cache: give it a fresh one. Matplotlib
    # keeps its font list in this process's cache folder (else it rebuilds it, and a rebuild slower than 5 s on a
    # loaded machine prints "Matplotlib is building the font cache")
    import matplotlib

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "MPLCONFIGDIR": matplotlib.get_cachedir()}
    code = f"{prelude}\nimport arviz"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stderr


def test_arviz_import_is_quiet_with_the_filter(tmp_path):
    # without the filter ArviZ does print its notice (so the filter is checked against ArviZ's real text)
    assert "ArviZ is undergoing" in _import_arviz(tmp_path / "plain", "")
    filtered = "from bayesmeta.quiet import silence_known_warnings\nsilence_known_warnings()"
    assert _import_arviz(tmp_path / "filtered", filtered) == ""
