"""Progress bars (tqdm) on stderr, with rate and ETA; silent when disabled."""
from __future__ import annotations

from typing import Iterable, Optional


def progress_bar(iterable: Optional[Iterable] = None, total: Optional[int] = None,
                 desc: str = "", unit: str = "it", disable: bool = False, initial: int = 0):
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, initial=initial,
                dynamic_ncols=True, mininterval=0.5, smoothing=0.1)
