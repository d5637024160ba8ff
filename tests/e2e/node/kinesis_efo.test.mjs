// Kinesis enhanced fan-out through the AWS SDK for JavaScript v3 with its default request handler
// for Kinesis, NodeHttp2Handler: HTTP/2 over cleartext with prior knowledge against an http://
// endpoint. Every call here (CreateStream, PutRecord, ...) goes over HTTP/2, and SubscribeToShard
// answers with an AWS event stream in DATA frames.
//
// The endpoint comes from FERRY_ENDPOINT (tests/e2e/run.sh, or
// `python3 tests/e2e/harness/with_server.py -- node --test tests/e2e/node/`).

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import {
  KinesisClient,
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamSummaryCommand,
  ListShardsCommand,
  PutRecordCommand,
  RegisterStreamConsumerCommand,
  SplitShardCommand,
  SubscribeToShardCommand,
} from "@aws-sdk/client-kinesis";

const endpoint = process.env.FERRY_ENDPOINT;
if (!endpoint) {
  throw new Error("FERRY_ENDPOINT is not set; run through tests/e2e/run.sh or harness/with_server.py");
}

function newClient() {
  return new KinesisClient({
    endpoint,
    region: process.env.AWS_REGION || "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    maxAttempts: 1,
  });
}
const client = newClient();
const created = [];
after(async () => {
  for (const StreamName of created) {
    await client.send(new DeleteStreamCommand({ StreamName, EnforceConsumerDeletion: true }))
      .catch(() => {});
  }
  client.destroy();
});

async function setup() {
  const StreamName = `js-efo-${randomUUID().slice(0, 12)}`;
  await client.send(new CreateStreamCommand({ StreamName, ShardCount: 1 }));
  created.push(StreamName);
  const summary = await client.send(new DescribeStreamSummaryCommand({ StreamName }));
  const StreamARN = summary.StreamDescriptionSummary.StreamARN;
  const { Consumer } = await client.send(
    new RegisterStreamConsumerCommand({ StreamARN, ConsumerName: "app" }));
  const { Shards } = await client.send(new ListShardsCommand({ StreamName }));
  return { StreamName, ConsumerARN: Consumer.ConsumerARN, ShardId: Shards[0].ShardId };
}

// Iterates a subscription's events into a queue the test awaits.
function reader(eventStream) {
  const items = [];
  let notify = null;
  (async () => {
    try {
      for await (const event of eventStream) {
        items.push({ event, at: performance.now() });
        notify?.();
      }
      items.push({ end: true });
    } catch (error) {
      items.push({ error });
    }
    notify?.();
  })();
  return {
    async next(timeoutMs = 15000) {
      const deadline = Date.now() + timeoutMs;
      while (items.length === 0) {
        if (Date.now() > deadline) throw new Error("no event in time");
        await new Promise((resolve) => {
          notify = resolve;
          setTimeout(resolve, 100);
        });
      }
      return items.shift();
    },
    async records(count) {
      const out = [];
      let last;
      while (out.length < count) {
        const item = await this.next();
        assert.ok(item.event?.SubscribeToShardEvent, `unexpected ${JSON.stringify(item)}`);
        last = item.event.SubscribeToShardEvent;
        for (const r of last.Records) out.push({ record: r, at: item.at });
      }
      return { out, last };
    },
  };
}

test("SubscribeToShard over HTTP/2 delivers records as they are put", async () => {
  const { StreamName, ConsumerARN, ShardId } = await setup();
  const res = await client.send(new SubscribeToShardCommand({
    ConsumerARN, ShardId, StartingPosition: { Type: "LATEST" },
  }));
  const events = reader(res.EventStream);
  const first = await events.next();
  assert.deepEqual(first.event.SubscribeToShardEvent.Records, []);
  assert.ok(first.event.SubscribeToShardEvent.ContinuationSequenceNumber);

  const sent = [];
  for (let i = 0; i < 10; i++) {
    const put = await client.send(new PutRecordCommand({
      StreamName, PartitionKey: "k", Data: new TextEncoder().encode(`r${i}`),
    }));
    sent.push(put.SequenceNumber);
  }
  const { out, last } = await events.records(10);
  assert.deepEqual(out.map((x) => new TextDecoder().decode(x.record.Data)),
    sent.map((_, i) => `r${i}`));
  assert.deepEqual(out.map((x) => x.record.SequenceNumber), sent);
  assert.ok(out[0].record.ApproximateArrivalTimestamp instanceof Date);
  assert.equal(last.ContinuationSequenceNumber, sent.at(-1));
  assert.equal(typeof last.MillisBehindLatest, "number");

  // Latency from PutRecord to the record's arrival, over HTTP/2 (printed, not asserted). The
  // event is sent when the put is durable, as its answer is, so it often arrives first.
  const n = Number(process.env.FERRY_EFO_LATENCY_RECORDS || 300);
  const fromRequest = [];
  const fromAnswer = [];
  for (let i = 0; i < n; i++) {
    const sent = performance.now();
    await client.send(new PutRecordCommand({
      StreamName, PartitionKey: "k", Data: new TextEncoder().encode(`l${i}`),
    }));
    const answered = performance.now();
    const { out: got } = await events.records(1);
    fromRequest.push(got[0].at - sent);
    fromAnswer.push(got[0].at - answered);
  }
  const summary = (values) => {
    values.sort((a, b) => a - b);
    const p = (q) => values[Math.min(values.length - 1, Math.floor(values.length * q))];
    return `p50 ${p(0.5).toFixed(2)} ms, p99 ${p(0.99).toFixed(2)} ms`;
  };
  console.log(`SubscribeToShard latency over HTTP/2 (JS SDK v3, ${n} records): PutRecord sent -> ` +
    `event read ${summary(fromRequest)}; PutRecord answer -> event read ${summary(fromAnswer)}`);
});

test("a closed shard ends the subscription with ChildShards", async () => {
  const { StreamName, ConsumerARN, ShardId } = await setup();
  const res = await client.send(new SubscribeToShardCommand({
    ConsumerARN, ShardId, StartingPosition: { Type: "TRIM_HORIZON" },
  }));
  const events = reader(res.EventStream);
  await client.send(new PutRecordCommand({
    StreamName, PartitionKey: "k", Data: new TextEncoder().encode("before"),
  }));
  const { out } = await events.records(1);
  assert.equal(new TextDecoder().decode(out[0].record.Data), "before");
  await client.send(new SplitShardCommand({
    StreamName, ShardToSplit: ShardId, NewStartingHashKey: (2n ** 127n).toString(),
  }));
  let event;
  for (;;) {
    const item = await events.next();
    assert.ok(item.event, `unexpected ${JSON.stringify(item)}`);
    event = item.event.SubscribeToShardEvent;
    if (event.ChildShards?.length) break;
  }
  assert.equal(event.ContinuationSequenceNumber, undefined);
  assert.deepEqual(event.ChildShards.map((c) => c.ShardId).sort(),
    ["shardId-000000000001", "shardId-000000000002"]);
  assert.deepEqual((await events.next()).end, true);
});

test("a second subscription takes over after 5 seconds; the first gets ResourceInUseException",
  async () => {
    const { ConsumerARN, ShardId } = await setup();
    const first = reader((await client.send(new SubscribeToShardCommand({
      ConsumerARN, ShardId, StartingPosition: { Type: "LATEST" },
    }))).EventStream);
    assert.ok((await first.next()).event);
    await assert.rejects(
      client.send(new SubscribeToShardCommand({
        ConsumerARN, ShardId, StartingPosition: { Type: "LATEST" },
      })),
      (e) => e.name === "ResourceInUseException");
    await new Promise((r) => setTimeout(r, 5100));
    const second = reader((await client.send(new SubscribeToShardCommand({
      ConsumerARN, ShardId, StartingPosition: { Type: "LATEST" },
    }))).EventStream);
    assert.ok((await second.next()).event);
    let item;
    do item = await first.next(); while (item.event);
    assert.equal(item.error?.name, "ResourceInUseException", String(item.error));
  });

// HTTP/2 limits, with node's own HTTP/2 client: a body over 16 MiB is 413, a header list over
// 64 KiB resets the stream, and other requests on the same connection carry on.
test("HTTP/2 request limits", async () => {
  const http2 = await import("node:http2");
  const session = http2.connect(endpoint);
  const request = (headers, body) => new Promise((resolve) => {
    const req = session.request({ ":method": "POST", ":path": "/", ...headers });
    let status;
    let data = "";
    req.on("response", (h) => { status = h[":status"]; });
    req.on("data", (chunk) => { data += chunk; });
    req.on("end", () => resolve({ status, data }));
    req.on("error", (error) => resolve({ error }));
    req.end(body);
  });
  try {
    const big = await request({ "content-type": "application/x-amz-json-1.1" },
      Buffer.alloc(16 * 1024 * 1024 + 1, 0x20));
    assert.equal(big.status, 413);
    const headers = await request({ "x-big": "h".repeat(70 * 1024) }, "{}");
    assert.ok(headers.error || headers.status === 431, JSON.stringify(headers));
    const ok = await request({
      "content-type": "application/x-amz-json-1.1",
      "x-amz-target": "Kinesis_20131202.ListStreams",
    }, "{}");
    assert.equal(ok.status, 200);
    assert.ok(JSON.parse(ok.data).StreamNames);
  } finally {
    session.close();
  }
});
