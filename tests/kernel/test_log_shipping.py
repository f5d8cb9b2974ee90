"""Log shipping against a real OpenSearch (the Elasticsearch ``_bulk``/``_search`` API): lines
are searchable with the common fields, an outage loses nothing, and a restart with a non-empty
spool delivers every line once."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider

from kernel import log_shipper
from kernel.log_shipper import LogShipper, bulk_body, doc_id
from kernel.logs import configure_logging
from kernel.spool import Spool
from tests.support.opensearch import OpenSearchNode
from tests.support.polling import wait_until
from tests.support.servers import free_port


@pytest.fixture(autouse=True)
def restore_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    structlog.contextvars.clear_contextvars()
    yield
    log_shipper.stop()
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)


def index_name() -> str:
    return f"test-logs-{uuid.uuid4().hex[:12]}"


def log_spool(directory: Path, **kwargs: object) -> Spool:
    return Spool(directory, name="log", overflow="drop_oldest", fsync=False, **kwargs)  # type: ignore[arg-type]


def line(n: int) -> bytes:
    doc = {"log_id": uuid.uuid5(uuid.NAMESPACE_OID, str(n)).hex, "event": "e", "n": n}
    return json.dumps(doc, separators=(",", ":")).encode()


async def test_lines_are_searchable_with_the_common_fields(
    opensearch: OpenSearchNode,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    index = index_name()
    monkeypatch.setenv("GREENLANG_LOG_SHIP_URL", opensearch.url)
    monkeypatch.setenv("GREENLANG_LOG_SHIP_INDEX", index)
    monkeypatch.setenv("GREENLANG_LOG_SHIP_DIR", str(tmp_path / "spool"))
    configure_logging("info", component="sidecar")
    log = structlog.get_logger("sidecar.test")
    tracer = TracerProvider().get_tracer("test")
    structlog.contextvars.bind_contextvars(request_id="req-7", agent_id="gl-a", version="1.2.0")
    with tracer.start_as_current_span("call") as span:
        log.info("upstream_answered", status=200)
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("call_failed")
    structlog.contextvars.clear_contextvars()
    logging.getLogger("aiohttp.access").warning("stdlib %s", "record")
    printed = [json.loads(x) for x in capsys.readouterr().out.splitlines()]

    async def shipped() -> list[dict[str, object]] | None:
        docs = opensearch.search(index) if opensearch.exists(index) else []
        return docs if len(docs) == 3 else None

    docs = {d["event"]: d for d in await wait_until(shipped, what="3 documents")}
    ctx = span.get_span_context()
    ok, failed, stdlib = docs["upstream_answered"], docs["call_failed"], docs["stdlib record"]
    for doc in (ok, failed):
        assert doc["component"] == "sidecar" and doc["request_id"] == "req-7"
        assert doc["agent_id"] == "gl-a" and doc["version"] == "1.2.0"
        assert doc["trace_id"] == format(ctx.trace_id, "032x")
        assert doc["span_id"] == format(ctx.span_id, "016x")
        assert str(doc["timestamp"]).endswith("Z") and doc["_id"] == doc["log_id"]
    assert ok["level"] == "info" and ok["status"] == 200
    assert failed["level"] == "error"
    assert "Traceback" in str(failed["exception"]) and "ValueError: boom" in str(
        failed["exception"]
    )
    assert stdlib["component"] == "sidecar" and stdlib["level"] == "warning"
    assert "trace_id" not in stdlib and stdlib["logger"] == "aiohttp.access"
    # What was shipped is what was printed, line for line.
    assert sorted(d["log_id"] for d in printed) == sorted(str(d["log_id"]) for d in docs.values())


async def test_an_outage_loses_nothing(tmp_path: Path) -> None:
    index = index_name()
    with OpenSearchNode() as node:
        shipper = LogShipper(log_spool(tmp_path / "spool"), node.url, index, interval_s=0.1)
        shipper.max_backoff_s = 0.5
        shipper.start()
        try:
            for n in range(50):
                shipper.append(line(n))

            async def first_half() -> bool:
                return node.exists(index) and node.count(index) == 50

            await wait_until(first_half, what="50 documents")
            node.stop()  # the cluster goes away; the process keeps logging
            for n in range(50, 300):
                shipper.append(line(n))

            async def failing() -> bool:
                return shipper.retries >= 2 and shipper.spool.pending() == 250

            await wait_until(failing, what="retries while the cluster is down")
            node.start()

            async def all_there() -> bool:
                return shipper.spool.pending() == 0 and node.count(index) == 300

            await wait_until(all_there, limit=120, what="300 documents after the outage")
        finally:
            shipper.stop()
        ns = sorted(d["n"] for d in node.search(index, size=1000))
        assert ns == list(range(300)) and shipper.dropped == 0


async def test_a_restart_with_a_full_spool_delivers_each_line_once(
    opensearch: OpenSearchNode, tmp_path: Path
) -> None:
    index = index_name()
    spool_dir = tmp_path / "spool"
    first = LogShipper(log_spool(spool_dir), opensearch.url, index)
    for n in range(120):
        first.append(line(n))
    # Delivered but not committed (the process died between the answer and the cursor write).
    batch = first.spool.read_batch(80)
    first._post(bulk_body(index, batch.lines))
    first.spool.close()

    second = LogShipper(log_spool(spool_dir), opensearch.url, index, interval_s=0.1)
    assert second.spool.pending() == 120
    second.start()
    try:

        async def delivered() -> bool:
            return second.spool.pending() == 0

        await wait_until(delivered, what="the spool drained")
    finally:
        second.stop()
    docs = opensearch.search(index, size=1000)
    assert sorted(d["n"] for d in docs) == list(range(120))  # once each
    assert second.duplicates == 80 and second.shipped == 120


async def test_a_document_the_cluster_refuses_is_set_aside(
    opensearch: OpenSearchNode, tmp_path: Path
) -> None:
    index = index_name()
    shipper = LogShipper(log_spool(tmp_path / "spool"), opensearch.url, index, interval_s=0.1)
    shipper.append(b'{"log_id":"a1","event":"e","status":200}')
    shipper.append(b'{"log_id":"a2","event":"e","status":{"code":"not a number"}}')  # conflict
    shipper.append(b'{"log_id":"a3","event":"e","status":201}')
    assert shipper.ship_once() == "ok"
    assert shipper.spool.pending() == 0 and shipper.rejected == 1 and shipper.shipped == 2
    [kept] = shipper.spool.rejected_files()
    assert json.loads(kept.read_text())["events"] == [
        {"log_id": "a2", "event": "e", "status": {"code": "not a number"}}
    ]
    assert sorted(d["_id"] for d in opensearch.search(index)) == ["a1", "a3"]
    shipper.stop()


def test_document_ids() -> None:
    assert doc_id(b'{"log_id":"abc","event":"x"}') == "abc"
    assert doc_id(b'{"log_id": "abc", "event": "x"}') == "abc"
    other = b'{"event":"x","log_id":"abc"}'  # not first: hashed, stable
    assert doc_id(other) == doc_id(other) != "abc"
    body = bulk_body("i", [b'{"log_id":"z"}']).decode().splitlines()
    assert json.loads(body[0]) == {"create": {"_index": "i", "_id": "z"}}
    assert body[1] == '{"log_id":"z"}'


def test_cluster_url_must_be_http(tmp_path: Path) -> None:
    with log_spool(tmp_path) as spool, pytest.raises(ValueError, match="http"):
        LogShipper(spool, "opensearch:9200")


def test_a_full_spool_never_blocks_and_drops_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("info", component="registry")
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens: the cluster is down
    spool = log_spool(tmp_path / "spool", max_bytes=4096, segment_bytes=1024)
    shipper = LogShipper(spool, down, "i")
    for n in range(500):
        shipper.append(line(n))  # never raises, whatever the cluster does
    assert shipper.ship_once() == "retry" and "Connection refused" in str(shipper.last_error)
    assert shipper.dropped > 0 and spool.size_bytes() <= 4096
    capsys.readouterr()
    shipper._report_drops()
    [report] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert report["event"] == "log_spool_dropped" and report["level"] == "warning"
    assert report["dropped_total"] == shipper.dropped == 500 - spool.pending()
    shipper.stop()
