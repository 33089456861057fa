"""Suites: named, versioned evaluation protocols stored as TOML data files."""

from benchbox.suites.suite import Partitions, ProtocolSettings, Suite, builtin_suite_names, load_suite

__all__ = ["Partitions", "ProtocolSettings", "Suite", "builtin_suite_names", "load_suite"]
