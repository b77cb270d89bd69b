"""Everything that talks to librdkafka: the consumer loop, the offsets tracker, the one committer,
the acknowledged producer, topic admin, the delivery-attempt log.
"""
