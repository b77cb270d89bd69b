"""Wiring one bridge process: members, signals, hot reload, /metrics and health, process settings,
replay.
"""
