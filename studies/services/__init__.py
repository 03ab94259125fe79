"""Writes of the studies app (HackSoft style: ``<entity>_<action>(*, ...)``), one module per area."""
