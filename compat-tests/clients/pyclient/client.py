"""Drive kafka-python or confluent-kafka-python for the Riffle compat matrix.

Usage: python3 client.py <kafka-python|confluent> <op>, with a JSON request on
stdin and a JSON answer on stdout. Bytes travel base64-encoded. A broker error
is answered as {"error": {"code": NAME, "message": text}}, exit status 0; any
other failure is a traceback and a non-zero exit.
"""
import base64
import json
import os
import sys
import time


def replication_factor():
    # As suite.ReplicationFactor: 3 against the three-node cluster.
    return int(os.environ.get("COMPAT_REPLICATION_FACTOR", "1"))


def b64(b):
    return None if b is None else base64.b64encode(b).decode()


def unb64(s):
    return None if s is None else base64.b64decode(s)


def fail(code, message):
    return {"error": {"code": code, "message": message}}


# ---------------------------------------------------------------- kafka-python

def kp_metadata(req):
    from kafka import KafkaConsumer
    c = KafkaConsumer(bootstrap_servers=req["seeds"], client_id="riffle-compat")
    try:
        parts = c.partitions_for_topic(req["topic"]) or set()
        cl = c._client
        out = {"brokers": [], "leaders": {}, "api_versions": None}
        for b in cl.cluster.brokers():
            out["brokers"].append({"id": b.nodeId, "host": b.host, "port": b.port})
        for p in parts:
            out["leaders"][str(p)] = cl.cluster.leader_for_partition(
                __import__("kafka").TopicPartition(req["topic"], p))
        # The ApiVersions answer kafka-python keeps after probing the broker.
        versions = cl.get_api_versions()
        if versions:
            out["api_versions"] = {str(k): v[1] for k, v in versions.items()}
        return out
    finally:
        c.close()


def kp_produce(req):
    from kafka import KafkaProducer
    from kafka.errors import KafkaError, MessageSizeTooLargeError
    codec = None if req["codec"] == "none" else req["codec"]
    p = KafkaProducer(bootstrap_servers=req["seeds"], client_id="riffle-compat",
                      compression_type=codec, acks="all", linger_ms=5, retries=3,
                      max_block_ms=int(min(req["timeout_s"], 20) * 1000))
    try:
        futures = []
        for r in req["records"]:
            futures.append(p.send(
                req["topic"], value=unb64(r["value"]), key=unb64(r["key"]), partition=r["partition"],
                timestamp_ms=r["timestamp_ms"],
                headers=[(h[0], unb64(h[1])) for h in r["headers"]]))
        p.flush(timeout=req["timeout_s"])
        offsets = []
        for f in futures:
            try:
                offsets.append(f.get(timeout=req["timeout_s"]).offset)
            except MessageSizeTooLargeError as e:
                return fail("MESSAGE_TOO_LARGE", str(e))
            except KafkaError as e:
                return fail(type(e).__name__, str(e))
        return {"offsets": offsets}
    finally:
        p.close(timeout=5)


def kp_consume(req):
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=req["seeds"], client_id="riffle-compat", group_id=None,
                      enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=200)
    try:
        counts = {int(k): v for k, v in req["counts"].items()}
        tps = [TopicPartition(req["topic"], p) for p in sorted(counts)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        got = {p: [] for p in counts}
        deadline = time.time() + req["timeout_s"]
        while any(len(got[p]) < counts[p] for p in counts) and time.time() < deadline:
            for tp, msgs in c.poll(timeout_ms=200).items():
                for m in msgs:
                    if len(got[tp.partition]) < counts[tp.partition]:
                        got[tp.partition].append({
                            "partition": m.partition, "offset": m.offset, "timestamp_ms": m.timestamp,
                            "key": b64(m.key), "value": b64(m.value),
                            "headers": [[k, b64(v)] for k, v in (m.headers or [])]})
        return {"records": [r for p in sorted(got) for r in got[p]]}
    finally:
        c.close()


def kp_offset_for_time(req):
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=req["seeds"], client_id="riffle-compat", group_id=None)
    try:
        tp = TopicPartition(req["topic"], req["partition"])
        ts = req["ts"]
        # offsets_for_times refuses negative timestamps; latest/earliest have
        # their own calls, which send ListOffsets with -1/-2.
        if ts == -1:
            return {"offset": c.end_offsets([tp])[tp]}
        if ts == -2:
            return {"offset": c.beginning_offsets([tp])[tp]}
        res = c.offsets_for_times({tp: ts})[tp]
        return {"offset": -1 if res is None else res.offset}
    finally:
        c.close()


def kp_record(m):
    return {"partition": m.partition, "offset": m.offset, "timestamp_ms": m.timestamp,
            "key": b64(m.key), "value": b64(m.value),
            "headers": [[k, b64(v)] for k, v in (m.headers or [])]}


def kp_group_consume(req):
    from kafka import KafkaConsumer
    from kafka.structs import OffsetAndMetadata
    # Default assignors: range, roundrobin. No auto-commit: exactly the
    # returned records are committed, synchronously, before close.
    c = KafkaConsumer(req["topic"], bootstrap_servers=req["seeds"], client_id="riffle-compat",
                      group_id=req["group"], enable_auto_commit=False, auto_offset_reset="earliest",
                      fetch_max_wait_ms=200, heartbeat_interval_ms=500)
    try:
        n, kept, nxt = req["n"], [], {}
        deadline = time.time() + req["timeout_s"]
        while len(kept) < n and time.time() < deadline:
            for tp, msgs in c.poll(timeout_ms=200, max_records=n - len(kept)).items():
                for m in msgs:
                    if len(kept) < n:
                        kept.append(kp_record(m))
                        nxt[tp] = m.offset + 1
        if len(kept) < n:
            return fail("TIMEOUT", "%d of %d records before the deadline" % (len(kept), n))
        c.commit({tp: OffsetAndMetadata(o, None) for tp, o in nxt.items()})
        return {"records": kept}
    finally:
        c.close()  # LeaveGroup


def kp_admin(req):
    from kafka import KafkaAdminClient
    return KafkaAdminClient(bootstrap_servers=req["seeds"], client_id="riffle-compat",
                            request_timeout_ms=int(min(req["timeout_s"], 20) * 1000))


def kp_call(fn):
    """Runs an admin call; kafka-python raises broker errors as exceptions
    named after Kafka's error (TopicAlreadyExistsError, ...)."""
    from kafka.errors import KafkaError
    try:
        fn()
        return {}
    except KafkaError as e:
        name = type(e).__name__
        if name == "TopicAlreadyExistsError":
            return fail("TOPIC_ALREADY_EXISTS", str(e))
        return fail(name, str(e))


def kp_create_topic(req):
    from kafka.admin import NewTopic
    a = kp_admin(req)
    try:
        return kp_call(lambda: a.create_topics([NewTopic(req["topic"], req["partitions"], replication_factor(),
                                                         topic_configs=req["configs"])]))
    finally:
        a.close()


def kp_create_partitions(req):
    from kafka.admin import NewPartitions
    a = kp_admin(req)
    try:
        return kp_call(lambda: a.create_partitions({req["topic"]: NewPartitions(req["total"])}))
    finally:
        a.close()


def kp_delete_topic(req):
    a = kp_admin(req)
    try:
        return kp_call(lambda: a.delete_topics([req["topic"]]))
    finally:
        a.close()


def kp_describe_configs(req):
    from kafka.admin import ConfigResource, ConfigResourceType
    from kafka.errors import for_code
    a = kp_admin(req)
    try:
        out = {}
        for resp in a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, req["topic"])]):
            for err, msg, _type, _name, entries in resp.resources:
                if err:
                    return fail(for_code(err).__name__, msg or "")
                for e in entries:
                    out[e[0]] = "" if e[1] is None else e[1]
        return {"configs": out}
    finally:
        a.close()


def kp_alter_config(req):
    # AlterConfigs (not incremental, which kafka-python 2.0.2 lacks)
    # replaces the topic's whole dynamic config with this one entry.
    from kafka.admin import ConfigResource, ConfigResourceType
    from kafka.errors import for_code
    a = kp_admin(req)
    try:
        resp = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, req["topic"],
                                               configs={req["key"]: req["value"]})])
        for err, msg, _type, _name in resp.resources:
            if err:
                return fail(for_code(err).__name__, msg or "")
        return {}
    finally:
        a.close()


# ------------------------------------------------------ confluent-kafka-python

def ck_conf(req, **extra):
    conf = {"bootstrap.servers": ",".join(req["seeds"]), "client.id": "riffle-compat", "log_level": 3}
    conf.update(extra)
    return conf


def ck_metadata(req):
    from confluent_kafka import Producer
    p = Producer(ck_conf(req))
    md = p.list_topics(req["topic"], timeout=req["timeout_s"])
    t = md.topics[req["topic"]]
    if t.error is not None:
        return fail(t.error.name(), t.error.str())
    return {
        "brokers": [{"id": b.id, "host": b.host, "port": b.port} for b in md.brokers.values()],
        "leaders": {str(pid): pm.leader for pid, pm in t.partitions.items()},
        # librdkafka does not expose its ApiVersions answer.
        "api_versions": None,
    }


def ck_produce(req):
    from confluent_kafka import KafkaError, Producer
    p = Producer(ck_conf(req, **{"compression.type": req["codec"], "enable.idempotence": req["idempotent"],
                                 "acks": "all", "linger.ms": 5}))
    offsets = [None] * len(req["records"])
    errors = []

    def report(i):
        def cb(err, msg):
            if err is not None:
                errors.append(err)
            else:
                offsets[i] = msg.offset()
        return cb

    for i, r in enumerate(req["records"]):
        p.produce(req["topic"], value=unb64(r["value"]), key=unb64(r["key"]), partition=r["partition"],
                  timestamp=r["timestamp_ms"], headers=[(h[0], unb64(h[1])) for h in r["headers"]],
                  on_delivery=report(i))
        p.poll(0)
    left = p.flush(req["timeout_s"])
    if errors:
        e = errors[0]
        if e.code() == KafkaError.MSG_SIZE_TOO_LARGE:
            return fail("MESSAGE_TOO_LARGE", e.str())
        return fail(e.name(), e.str())
    if left:
        return fail("TIMEOUT", "%d messages undelivered" % left)
    return {"offsets": offsets}


def ck_consume(req):
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
    # group.id is required by the binding; assign() never joins the group.
    conf = ck_conf(req, **{"group.id": "riffle-compat-assign", "enable.auto.commit": False,
                           "fetch.wait.max.ms": 200})
    if req.get("isolation"):
        conf["isolation.level"] = req["isolation"]
    c = Consumer(conf)
    try:
        counts = {int(k): v for k, v in req["counts"].items()}
        c.assign([TopicPartition(req["topic"], p, OFFSET_BEGINNING) for p in sorted(counts)])
        got = {p: [] for p in counts}
        deadline = time.time() + req["timeout_s"]
        while any(len(got[p]) < counts[p] for p in counts) and time.time() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error() is not None:
                if m.error().fatal():
                    return fail(m.error().name(), m.error().str())
                continue
            if len(got[m.partition()]) < counts[m.partition()]:
                got[m.partition()].append({
                    "partition": m.partition(), "offset": m.offset(), "timestamp_ms": m.timestamp()[1],
                    "key": b64(m.key()), "value": b64(m.value()),
                    "headers": [[k, b64(v)] for k, v in (m.headers() or [])]})
        return {"records": [r for p in sorted(got) for r in got[p]]}
    finally:
        c.close()


def ck_produce_txns(req):
    """One transactional producer runs every transaction in order: begin,
    produce, wait for the delivery reports (an abort would purge undelivered
    records), then commit or abort."""
    from confluent_kafka import KafkaException, Producer
    p = Producer(ck_conf(req, **{"transactional.id": req["txn_id"], "compression.type": "none",
                                 "linger.ms": 5}))
    errors = []

    def report(err, _msg):
        if err is not None:
            errors.append(err)

    try:
        p.init_transactions(req["timeout_s"])
        for i, txn in enumerate(req["txns"]):
            p.begin_transaction()
            for r in txn["records"]:
                p.produce(req["topic"], value=unb64(r["value"]), key=unb64(r["key"]), partition=r["partition"],
                          timestamp=r["timestamp_ms"], headers=[(h[0], unb64(h[1])) for h in r["headers"]],
                          on_delivery=report)
                p.poll(0)
            left = p.flush(req["timeout_s"])
            if errors:
                return fail(errors[0].name(), "transaction %d: %s" % (i, errors[0].str()))
            if left:
                return fail("TIMEOUT", "transaction %d: %d messages undelivered" % (i, left))
            if txn["commit"]:
                p.commit_transaction(req["timeout_s"])
            else:
                p.abort_transaction(req["timeout_s"])
        return {}
    except KafkaException as e:
        return fail(e.args[0].name(), e.args[0].str())


def ck_offset_for_time(req):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer(ck_conf(req, **{"group.id": "riffle-compat-offsets"}))
    try:
        ts = req["ts"]
        if ts in (-1, -2):
            lo, hi = c.get_watermark_offsets(TopicPartition(req["topic"], req["partition"]),
                                             timeout=req["timeout_s"])
            return {"offset": hi if ts == -1 else lo}
        res = c.offsets_for_times([TopicPartition(req["topic"], req["partition"], ts)],
                                  timeout=req["timeout_s"])[0]
        if res.error is not None:
            return fail(res.error.name(), res.error.str())
        return {"offset": res.offset}
    finally:
        c.close()


def ck_group_consume(req):
    from confluent_kafka import Consumer, TopicPartition
    # Default assignors: range, roundrobin; explicit synchronous commit.
    c = Consumer(ck_conf(req, **{"group.id": req["group"], "enable.auto.commit": False,
                                 "auto.offset.reset": "earliest", "fetch.wait.max.ms": 200}))
    try:
        c.subscribe([req["topic"]])
        n, kept, nxt = req["n"], [], {}
        deadline = time.time() + req["timeout_s"]
        while len(kept) < n and time.time() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error() is not None:
                if m.error().fatal():
                    return fail(m.error().name(), m.error().str())
                continue
            kept.append({
                "partition": m.partition(), "offset": m.offset(), "timestamp_ms": m.timestamp()[1],
                "key": b64(m.key()), "value": b64(m.value()),
                "headers": [[k, b64(v)] for k, v in (m.headers() or [])]})
            nxt[m.partition()] = m.offset() + 1
        if len(kept) < n:
            return fail("TIMEOUT", "%d of %d records before the deadline" % (len(kept), n))
        c.commit(offsets=[TopicPartition(req["topic"], p, o) for p, o in nxt.items()], asynchronous=False)
        return {"records": kept}
    finally:
        c.close()  # LeaveGroup


def ck_admin_result(req, futures):
    """Waits for one admin future; broker errors come back by name."""
    from confluent_kafka import KafkaException
    try:
        for f in futures.values():
            f.result(timeout=req["timeout_s"])
        return {}
    except KafkaException as e:
        err = e.args[0]
        return fail(err.name(), err.str())


def ck_create_topic(req):
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient(ck_conf(req))
    return ck_admin_result(req, a.create_topics(
        [NewTopic(req["topic"], num_partitions=req["partitions"], replication_factor=replication_factor(), config=req["configs"])],
        operation_timeout=10))


def ck_create_partitions(req):
    from confluent_kafka.admin import AdminClient, NewPartitions
    a = AdminClient(ck_conf(req))
    return ck_admin_result(req, a.create_partitions([NewPartitions(req["topic"], req["total"])],
                                                    operation_timeout=10))


def ck_delete_topic(req):
    from confluent_kafka.admin import AdminClient
    a = AdminClient(ck_conf(req))
    return ck_admin_result(req, a.delete_topics([req["topic"]], operation_timeout=10))


def ck_describe_configs(req):
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, ConfigResource
    a = AdminClient(ck_conf(req))
    try:
        for f in a.describe_configs([ConfigResource("topic", req["topic"])]).values():
            entries = f.result(timeout=req["timeout_s"])
            return {"configs": {name: "" if e.value is None else e.value for name, e in entries.items()}}
    except KafkaException as e:
        return fail(e.args[0].name(), e.args[0].str())
    return fail("NO_RESULT", "describe_configs returned nothing")


def ck_alter_config(req):
    # alter_configs is AlterConfigs (confluent-kafka 1.7 has no incremental
    # variant): the topic's whole dynamic config becomes this one entry.
    from confluent_kafka.admin import AdminClient, ConfigResource
    a = AdminClient(ck_conf(req))
    return ck_admin_result(req, a.alter_configs(
        [ConfigResource("topic", req["topic"], set_config={req["key"]: req["value"]})]))


OPS = {
    "kafka-python": {"metadata": kp_metadata, "produce": kp_produce, "consume": kp_consume,
                     "offset_for_time": kp_offset_for_time, "group_consume": kp_group_consume,
                     "create_topic": kp_create_topic, "create_partitions": kp_create_partitions,
                     "delete_topic": kp_delete_topic, "describe_configs": kp_describe_configs,
                     "alter_config": kp_alter_config},
    "confluent": {"metadata": ck_metadata, "produce": ck_produce, "consume": ck_consume,
                  "offset_for_time": ck_offset_for_time, "group_consume": ck_group_consume,
                  "create_topic": ck_create_topic, "create_partitions": ck_create_partitions,
                  "delete_topic": ck_delete_topic, "describe_configs": ck_describe_configs,
                  "alter_config": ck_alter_config, "produce_txns": ck_produce_txns},
}


def main():
    lib, op = sys.argv[1], sys.argv[2]
    req = json.load(sys.stdin)
    json.dump(OPS[lib][op](req), sys.stdout)


if __name__ == "__main__":
    main()
