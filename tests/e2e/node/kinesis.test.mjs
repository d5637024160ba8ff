// Kinesis Data Streams through the AWS SDK for JavaScript v3 (@aws-sdk/client-kinesis, AWS JSON
// 1.1), and the CBOR protocol (application/x-amz-cbor-1.1, the Java SDK's default) with bodies
// encoded and decoded by an independent CBOR codec: @smithy/core's, which the SDK ships.
//
// The endpoint comes from FERRY_ENDPOINT (tests/e2e/run.sh, or
// `python3 tests/e2e/harness/with_server.py -- node --test tests/e2e/node/`).

import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import {
  KinesisClient,
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamSummaryCommand,
  PutRecordCommand,
  PutRecordsCommand,
  GetShardIteratorCommand,
  GetRecordsCommand,
  ListShardsCommand,
  ResourceNotFoundException,
  UpdateMaxRecordSizeCommand,
  UpdateAccountSettingsCommand,
  DescribeAccountSettingsCommand,
  UpdateStreamWarmThroughputCommand,
  InvalidArgumentException,
} from "@aws-sdk/client-kinesis";
import { cbor } from "@smithy/core/cbor";
import { NodeHttpHandler } from "@smithy/node-http-handler";

const endpoint = process.env.FERRY_ENDPOINT;
if (!endpoint) {
  throw new Error("FERRY_ENDPOINT is not set; run through tests/e2e/run.sh or harness/with_server.py");
}

const client = new KinesisClient({
  endpoint,
  region: process.env.AWS_REGION || "us-east-1",
  credentials: { accessKeyId: "test", secretAccessKey: "test" },
  maxAttempts: 1,
  // The Kinesis client defaults to HTTP/2 (NodeHttp2Handler, which kinesis_efo.test.mjs uses);
  // these tests keep HTTP/1.1 so that both transports are covered.
  requestHandler: new NodeHttpHandler(),
});
const created = [];
after(async () => {
  for (const StreamName of created) {
    await client.send(new DeleteStreamCommand({ StreamName })).catch(() => {});
  }
  client.destroy();
});

async function createStream(ShardCount) {
  const StreamName = `js-${randomUUID().slice(0, 12)}`;
  await client.send(new CreateStreamCommand({ StreamName, ShardCount }));
  created.push(StreamName);
  return StreamName;
}

describe("kinesis with the JS SDK v3", () => {
  test("put and get records in order, placed by MD5 of the partition key", async () => {
    const StreamName = await createStream(2);
    const put = await client.send(
      new PutRecordCommand({ StreamName, PartitionKey: "alpha", Data: Buffer.from("one") }),
    );
    const hash = BigInt("0x" + createHash("md5").update("alpha").digest("hex"));
    assert.equal(put.ShardId, hash < 2n ** 127n ? "shardId-000000000000" : "shardId-000000000001");
    const batch = await client.send(
      new PutRecordsCommand({
        StreamName,
        Records: ["two", "three", "four"].map((d) => ({ PartitionKey: "alpha", Data: Buffer.from(d) })),
      }),
    );
    assert.equal(batch.FailedRecordCount, 0);
    assert.equal(batch.Records.length, 3);
    const { ShardIterator } = await client.send(
      new GetShardIteratorCommand({ StreamName, ShardId: put.ShardId, ShardIteratorType: "TRIM_HORIZON" }),
    );
    const got = await client.send(new GetRecordsCommand({ ShardIterator, Limit: 10 }));
    assert.deepEqual(
      got.Records.map((r) => Buffer.from(r.Data).toString()),
      ["one", "two", "three", "four"],
    );
    assert.equal(got.Records[0].SequenceNumber, put.SequenceNumber);
    assert.ok(got.Records[0].ApproximateArrivalTimestamp instanceof Date);
    assert.equal(got.MillisBehindLatest, 0);
    assert.ok(got.NextShardIterator);
  });

  test("UpdateMaxRecordSize raises the stream's record size limit", async () => {
    const StreamName = await createStream(1);
    const summary = async () =>
      (await client.send(new DescribeStreamSummaryCommand({ StreamName }))).StreamDescriptionSummary;
    const { StreamARN, MaxRecordSizeInKiB } = await summary();
    assert.equal(MaxRecordSizeInKiB, 1024);
    const big = Buffer.alloc(1024 * 1024 + 1, 7);
    await assert.rejects(
      client.send(new PutRecordCommand({ StreamName, PartitionKey: "k", Data: big })),
      (e) => e.name === "ValidationException",
    );
    await client.send(new UpdateMaxRecordSizeCommand({ StreamARN, MaxRecordSizeInKiB: 2048 }));
    assert.equal((await summary()).MaxRecordSizeInKiB, 2048);
    await client.send(new PutRecordCommand({ StreamName, PartitionKey: "k", Data: big }));
  });

  test("warm throughput needs an on-demand stream and the account's billing commitment", async () => {
    const StreamName = `js-${randomUUID().slice(0, 12)}`;
    await client.send(new CreateStreamCommand({ StreamName, StreamModeDetails: { StreamMode: "ON_DEMAND" } }));
    created.push(StreamName);
    const provisioned = await createStream(1);
    await client.send(
      new UpdateAccountSettingsCommand({ MinimumThroughputBillingCommitment: { Status: "ENABLED" } }),
    );
    const settings = await client.send(new DescribeAccountSettingsCommand({}));
    assert.equal(settings.MinimumThroughputBillingCommitment.Status, "ENABLED");
    assert.ok(settings.MinimumThroughputBillingCommitment.StartedAt instanceof Date);
    const out = await client.send(
      new UpdateStreamWarmThroughputCommand({ StreamName, WarmThroughputMiBps: 64 }),
    );
    assert.equal(out.WarmThroughput.TargetMiBps, 64);
    const { StreamDescriptionSummary } = await client.send(new DescribeStreamSummaryCommand({ StreamName }));
    assert.deepEqual(StreamDescriptionSummary.WarmThroughput, { TargetMiBps: 64, CurrentMiBps: 64 });
    await assert.rejects(
      client.send(new UpdateStreamWarmThroughputCommand({ StreamName: provisioned, WarmThroughputMiBps: 64 })),
      InvalidArgumentException,
    );
  });

  test("a missing stream is ResourceNotFoundException", async () => {
    await assert.rejects(
      client.send(new DescribeStreamSummaryCommand({ StreamName: `missing-${randomUUID()}` })),
      ResourceNotFoundException,
    );
  });
});

describe("kinesis over CBOR (application/x-amz-cbor-1.1)", () => {
  async function call(action, body) {
    const res = await fetch(endpoint, {
      method: "POST",
      headers: {
        "content-type": "application/x-amz-cbor-1.1",
        "x-amz-target": `Kinesis_20131202.${action}`,
      },
      body: cbor.serialize(body),
    });
    assert.equal(res.headers.get("content-type"), "application/x-amz-cbor-1.1");
    const bytes = new Uint8Array(await res.arrayBuffer());
    return { status: res.status, body: cbor.deserialize(bytes) };
  }

  test("put and get a binary record; blobs are byte strings, timestamps epoch milliseconds", async () => {
    const StreamName = await createStream(1);
    const data = new Uint8Array([0, 1, 2, 250, 255]);
    const before = Date.now();
    const put = await call("PutRecord", { StreamName, PartitionKey: "k", Data: data });
    assert.equal(put.status, 200);
    assert.equal(put.body.ShardId, "shardId-000000000000");
    const it = await call("GetShardIterator", {
      StreamName,
      ShardId: "shardId-000000000000",
      ShardIteratorType: "AT_TIMESTAMP",
      Timestamp: before - 1000,
    });
    assert.equal(it.status, 200);
    const got = await call("GetRecords", { ShardIterator: it.body.ShardIterator });
    assert.equal(got.status, 200);
    assert.equal(got.body.Records.length, 1);
    const rec = got.body.Records[0];
    assert.deepEqual(new Uint8Array(rec.Data), data);
    assert.equal(rec.SequenceNumber, put.body.SequenceNumber);
    const ts = Number(rec.ApproximateArrivalTimestamp);
    assert.ok(ts >= before - 1000 && ts <= Date.now() + 1000, `timestamp ${ts} in milliseconds`);
    // The JSON SDK reads the same record.
    const shards = await client.send(new ListShardsCommand({ StreamName }));
    assert.equal(shards.Shards.length, 1);
  });

  test("errors are CBOR maps with __type and message", async () => {
    const res = await call("DescribeStreamSummary", { StreamName: `missing-${randomUUID()}` });
    assert.equal(res.status, 400);
    assert.equal(res.body.__type, "ResourceNotFoundException");
    assert.match(res.body.message, /not found/);
  });
});
