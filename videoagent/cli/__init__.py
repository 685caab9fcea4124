"""The ``videoagent`` command: a demo, batches, and every API call from the shell.

    videoagent demo                          # the embedded simulator, a batch, live progress
    videoagent batch briefs.txt --out videos/
    videoagent create "a 20 s teaser" --wait
    videoagent simulate --port 8080          # a local API to point VIDEOAGENT_BASE_URL at

Configuration: flags, then ``VIDEOAGENT_API_KEY``, ``VIDEOAGENT_BASE_URL`` and
``VIDEOAGENT_TIME_SCALE``. Exit status: 0 all done, 1 something failed (a
project that ended failed or cancelled included), 2 usage or configuration
error, 130 interrupted.
"""

from ._main import main

__all__ = ["main"]
