"""The engine: the per-event chain of steps from a taken record to a finished one.

intake (decode, match routes) → dispatch (lanes, batches; deliver) → settle (delivered /
parked / dead-lettered) → finish (the offset tracker); ``halt`` stops the bridge.
``pipeline.py`` wires the steps and draws the chain.
"""
