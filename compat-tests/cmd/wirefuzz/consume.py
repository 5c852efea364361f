# Reads partitions from a start offset to an end offset with kafka-python or
# librdkafka (confluent-kafka) and prints "STUCK ..." for each partition it
# could not read to its end within 60 s, or after 10 s without progress. Run by wirefuzz:
#   /usr/bin/python3 consume.py kafka-python|librdkafka host:port '[{"topic":..,"partition":..,"start":..,"end":..}]'
import json
import os
import sys
import time

client, bootstrap, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
deadline = time.time() + 60
errors = {}
progress = [time.time(), None]


def moving(positions):
    """False once the positions have not changed for 10 s."""
    snap = sorted(positions.items())
    if snap != progress[1]:
        progress[0], progress[1] = time.time(), snap
    return time.time() - progress[0] < 10


def report(positions):
    bad = 0
    for s in spec:
        key = (s["topic"], s["partition"])
        pos = positions.get(key, s["start"])
        if pos < s["end"]:
            bad += 1
            print("STUCK %s %s[%d] at %d of %d (from %d): %s" % (
                client, key[0], key[1], pos, s["end"], s["start"], errors.get(key, "no error")))
    print("%s: %d partitions, %d stuck" % (client, len(spec), bad))
    sys.stdout.flush()
    # No close(): a client's close can block on a broker in trouble, and the
    # answer is already out.
    os._exit(1 if bad else 0)


if client == "kafka-python":
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    tps = {(s["topic"], s["partition"]): TopicPartition(s["topic"], s["partition"]) for s in spec}
    c.assign(list(tps.values()))
    for s in spec:
        c.seek(tps[(s["topic"], s["partition"])], s["start"])
    positions = {}
    while time.time() < deadline:
        try:
            c.poll(timeout_ms=500, max_records=100000)
        except Exception as e:  # a corrupt batch surfaces here
            errors[("?", -1)] = repr(e)
            for k in tps:
                errors.setdefault(k, repr(e))
        for k, tp in tps.items():
            positions[k] = c.position(tp)
        if all(positions[(s["topic"], s["partition"])] >= s["end"] for s in spec) or not moving(positions):
            break
    report(positions)

elif client == "librdkafka":
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "wirefuzz-check",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    c.assign([TopicPartition(s["topic"], s["partition"], s["start"]) for s in spec])
    positions = {}
    while time.time() < deadline:
        m = c.poll(0.5)
        if m is not None:
            key = (m.topic(), m.partition())
            if m.error() is None:
                positions[key] = max(positions.get(key, 0), m.offset() + 1)
            elif m.error().code() == KafkaError._PARTITION_EOF:
                positions[key] = max(positions.get(key, 0), m.offset())
            else:
                errors[key] = str(m.error())
        if all(positions.get((s["topic"], s["partition"]), s["start"]) >= s["end"] for s in spec) or not moving(positions):
            break
    report(positions)

else:
    print("STUCK unknown client %s" % client)
    sys.exit(2)
