"""Test-wide settings: bayesmeta's caches (compiled models, results, figures, report notes) go to a temporary
folder for the session unless BAYESMETA_CACHE_DIR is already set, so tests neither read nor fill the user's."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

if not os.environ.get("BAYESMETA_CACHE_DIR"):
    _folder = tempfile.mkdtemp(prefix="bayesmeta-test-cache-")
    os.environ["BAYESMETA_CACHE_DIR"] = _folder
    atexit.register(shutil.rmtree, _folder, ignore_errors=True)
