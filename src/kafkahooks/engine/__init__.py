"""The per-event steps: intake and fan-out, ordering lanes, batching, settling outcomes (delivered
/ parked / dead-lettered / halt), retry topics, the dead-letter limit.
"""
