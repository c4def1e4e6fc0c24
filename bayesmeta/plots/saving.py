"""Saving a figure as PNG with one draw: the layout engine run once and removed (:func:`fix_layout`), then the
pixels encoded (:func:`png_bytes`). ``Figure.savefig`` with a layout engine draws the figure twice."""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.figure import Figure


def fix_layout(fig: Figure, dpi: float) -> None:
    """Run ``fig``'s layout engine (constrained or tight) once, at ``dpi``, and remove it, so the positions it
    set stay. A figure saved with a layout engine is drawn twice per save (matplotlib first draws it without
    output to run the engine, even a placeholder engine left by ``set_layout_engine('none')``); without one,
    each format is drawn once. The layout runs on the Agg renderer that saving the PNG at ``dpi`` then reuses,
    so the text measured for the layout is not measured again."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
    fig.set_layout_engine(None)


def png_bytes(fig: Figure, dpi: int) -> bytes:
    """``fig`` as a PNG at ``dpi``: the pixels of ``fig.savefig(format='png')``, with its resolution and Software
    entry, written as RGB when every pixel is opaque (a report figure's are: white background). matplotlib
    always writes RGBA; the RGB file holds the same image in about 10% fewer bytes and takes half the time to
    compress (zlib's time grows with the bytes it is given, and that was most of a 300 dpi save). Sets the
    figure's dpi to ``dpi``."""
    import matplotlib
    from PIL import Image, PngImagePlugin

    fig.set_dpi(dpi)
    raw = io.BytesIO()
    fig.savefig(raw, format="raw", dpi=dpi)
    width, height = fig.canvas.get_width_height(physical=True)  # as the Agg canvas sizes its buffer
    if width * height * 4 != raw.getbuffer().nbytes:
        raise RuntimeError(f"matplotlib's raw image is not {width} x {height} RGBA pixels")
    image = Image.frombuffer("RGBA", (width, height), raw.getbuffer(), "raw", "RGBA", 0, 1)
    if image.getchannel("A").getextrema() == (255, 255):
        image = image.convert("RGB")
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", f"Matplotlib version{matplotlib.__version__}, https://matplotlib.org/")
    out = io.BytesIO()
    image.save(out, format="png", dpi=(dpi, dpi), pnginfo=info)
    return out.getvalue()


def save_png(fig: Figure, path: str | Path, dpi: int) -> None:
    """Write ``fig`` to ``path`` as a PNG at ``dpi``: the pixels of ``fig.savefig(path, dpi=dpi)``, drawn once."""
    fix_layout(fig, dpi)
    Path(path).write_bytes(png_bytes(fig, dpi))
