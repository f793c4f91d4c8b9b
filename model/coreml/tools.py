"""coremltools, imported in one place with its import-time log noise silenced.

On Linux coremltools logs that its macOS-only libraries are missing and that the installed torch and
scikit-learn versions are untested; these are expected here and say nothing about an export. The exporter
and both program interpreters (:mod:`model.coreml.mil_eval`, :mod:`model.coreml.nn_eval`) import it through
:func:`coremltools`, so none of them imports another only for this.
"""

from __future__ import annotations

import logging

NOISY_LOGGERS = ("coremltools", "coremltools.models.model", "coremltools.converters")


def coremltools():
    """The ``coremltools`` module, imported with its noisy loggers set to ERROR (nothing is imported before)."""
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    import coremltools as ct

    return ct
