"""Plumbing every wing stands on: typed errors, paths and the cache, atomic folders, registries, devices and
precision, progress, time budgets, and the hub's offline default. Imports nothing else of langarith."""
