"""Crowdsourcing platforms, each behind one small interface (no boto3 or HTTP elsewhere).

- :mod:`.mturk`: :class:`~.mturk.MTurkClient` (HITs, the "has taken part" qualification,
  assignments, bonuses) and the ExternalQuestion XML.
- :mod:`.prolific`: :func:`~.prolific.completion_url`, :class:`~.prolific.ProlificClient`
  and :func:`~.prolific.sync_submissions` (free the places of returned/timed-out people).
- :mod:`.base`: :class:`~.base.PlatformError`, which says whether the platform may have acted.

How a researcher sets each platform up: docs/platforms.md.
"""

from .base import PlatformError, money

__all__ = ["PlatformError", "money"]
