// SQS standard queues through the AWS SDK for JavaScript v3 (@aws-sdk/client-sqs, AWS JSON 1.0).
//
// The endpoint comes from FERRY_ENDPOINT (tests/e2e/run.sh, or
// `python3 tests/e2e/harness/with_server.py -- node --test tests/e2e/node/`).
// The SDK itself checks MD5OfMessageBody on SendMessage, SendMessageBatch and ReceiveMessage and
// throws on a mismatch; the tests also check MD5OfMessageAttributes, which the SDK does not.

import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import {
  SQSClient,
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueUrlCommand,
  GetQueueAttributesCommand,
  ListQueueTagsCommand,
  SendMessageCommand,
  SendMessageBatchCommand,
  ReceiveMessageCommand,
  DeleteMessageCommand,
  DeleteMessageBatchCommand,
  ChangeMessageVisibilityCommand,
  QueueDoesNotExist,
} from "@aws-sdk/client-sqs";

const endpoint = process.env.FERRY_ENDPOINT;
if (!endpoint) {
  throw new Error("FERRY_ENDPOINT is not set; run through tests/e2e/run.sh or harness/with_server.py");
}

function makeClient(extra = {}) {
  return new SQSClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    maxAttempts: 1,
    ...extra,
  });
}

const sqs = makeClient();
const created = [];
after(async () => {
  for (const QueueUrl of created) {
    await sqs.send(new DeleteQueueCommand({ QueueUrl })).catch(() => {});
  }
  sqs.destroy();
});

async function createQueue(tag, input = {}) {
  const QueueName = `e2e-node-${tag}-${randomUUID().slice(0, 12)}`;
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName, ...input }));
  created.push(QueueUrl);
  return { QueueName, QueueUrl };
}

const md5 = (bytes) => createHash("md5").update(bytes).digest("hex");

// MD5OfMessageAttributes as the SQS Developer Guide defines it: attributes sorted by name; each
// contributes length-prefixed name and data type, a transport byte (1 string, 2 binary) and the
// length-prefixed value.
function md5OfAttributes(attrs) {
  const parts = [];
  const put = (buf) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(buf.length);
    parts.push(len, buf);
  };
  for (const name of Object.keys(attrs).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))) {
    const a = attrs[name];
    put(Buffer.from(name, "utf8"));
    put(Buffer.from(a.DataType, "utf8"));
    if (a.BinaryValue !== undefined) {
      parts.push(Buffer.from([2]));
      put(Buffer.from(a.BinaryValue));
    } else {
      parts.push(Buffer.from([1]));
      put(Buffer.from(a.StringValue, "utf8"));
    }
  }
  return md5(Buffer.concat(parts));
}

async function receiveN(QueueUrl, n, extra = {}) {
  const got = [];
  const deadline = Date.now() + 30_000;
  while (got.length < n) {
    assert.ok(Date.now() < deadline, `received ${got.length} of ${n} messages`);
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl,
        WaitTimeSeconds: 2,
        MaxNumberOfMessages: Math.min(10, n - got.length),
        ...extra,
      }),
    );
    got.push(...(out.Messages ?? []));
  }
  return got;
}

describe("SQS standard queue with the JavaScript SDK v3", () => {
  test("batch send, receive with attributes, batch delete", async () => {
    const { QueueName, QueueUrl } = await createQueue("life", {
      Attributes: { VisibilityTimeout: "60" },
      tags: { sdk: "js-v3" },
    });
    assert.equal((await sqs.send(new GetQueueUrlCommand({ QueueName }))).QueueUrl, QueueUrl);
    assert.deepEqual((await sqs.send(new ListQueueTagsCommand({ QueueUrl }))).Tags, { sdk: "js-v3" });

    const entries = Array.from({ length: 10 }, (_, i) => ({
      Id: `m${i}`,
      MessageBody: `body ${i} ✓ ${"x".repeat(i * 100)}`,
      MessageAttributes: {
        index: { DataType: "Number", StringValue: String(i) },
        label: { DataType: "String", StringValue: `label-${i}` },
        blob: { DataType: "Binary", BinaryValue: new Uint8Array([i, 0, 255, 128]) },
      },
    }));
    const sent = await sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries: entries }));
    assert.equal(sent.Failed?.length ?? 0, 0);
    assert.equal(sent.Successful.length, 10);
    const byId = Object.fromEntries(sent.Successful.map((r) => [r.Id, r]));
    for (const e of entries) {
      assert.equal(byId[e.Id].MD5OfMessageBody, md5(Buffer.from(e.MessageBody, "utf8")));
      assert.equal(byId[e.Id].MD5OfMessageAttributes, md5OfAttributes(e.MessageAttributes));
    }

    const messages = await receiveN(QueueUrl, 10, {
      MessageAttributeNames: ["All"],
      MessageSystemAttributeNames: ["All"],
    });
    const entryByMessageId = Object.fromEntries(
      entries.map((e) => [byId[e.Id].MessageId, e]),
    );
    assert.equal(new Set(messages.map((m) => m.MessageId)).size, 10);
    for (const m of messages) {
      const e = entryByMessageId[m.MessageId];
      assert.ok(e, `unexpected message ${m.MessageId}`);
      assert.equal(m.Body, e.MessageBody);
      assert.equal(m.MessageAttributes.label.StringValue, e.MessageAttributes.label.StringValue);
      assert.equal(m.MessageAttributes.index.StringValue, e.MessageAttributes.index.StringValue);
      assert.deepEqual(Buffer.from(m.MessageAttributes.blob.BinaryValue),
        Buffer.from(e.MessageAttributes.blob.BinaryValue));
      assert.equal(m.MD5OfMessageAttributes, md5OfAttributes(e.MessageAttributes));
      assert.equal(m.Attributes.ApproximateReceiveCount, "1");
      assert.match(m.Attributes.SentTimestamp, /^\d+$/);
    }

    const deleted = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl,
        Entries: messages.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })),
      }),
    );
    assert.equal(deleted.Successful.length, 10);
    assert.equal(deleted.Failed?.length ?? 0, 0);
    const attrs = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
      }),
    );
    assert.deepEqual(attrs.Attributes, {
      ApproximateNumberOfMessages: "0",
      ApproximateNumberOfMessagesNotVisible: "0",
    });
  });

  test("a long poll in flight returns the message sent while it waits", async () => {
    const { QueueUrl } = await createQueue("longpoll");
    const poller = makeClient();
    let onTheWire;
    const sentToServer = new Promise((resolve) => (onTheWire = resolve));
    poller.middlewareStack.add(
      (next) => async (args) => {
        onTheWire();
        return next(args);
      },
      { step: "finalizeRequest", priority: "low", name: "e2eOnTheWire" },
    );
    const started = Date.now();
    const receiving = poller.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 20 }));
    await sentToServer;
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "wake up" }));
    const out = await receiving;
    const took = Date.now() - started;
    poller.destroy();
    assert.deepEqual((out.Messages ?? []).map((m) => m.Body), ["wake up"]);
    assert.ok(took < 20_000, `the receive waited out its WaitTimeSeconds (${took} ms)`);
  });

  test("send and receive verify MD5s; visibility can be reset", async () => {
    const { QueueUrl } = await createQueue("md5");
    const MessageAttributes = {
      Hello: { DataType: "String", StringValue: "There" },
      General: { DataType: "String", StringValue: "Kenobi" },
      "Help.Me": { DataType: "String", StringValue: "Me" },
    };
    const out = await sqs.send(
      new SendMessageCommand({ QueueUrl, MessageBody: "msg", MessageAttributes }),
    );
    assert.equal(out.MD5OfMessageBody, "6e2baaf3b97dbeef01c0043275f9a0e7");
    // The value AWS returns for these attributes (recorded against AWS).
    assert.equal(out.MD5OfMessageAttributes, "4c360f3fdafd970e05fae2f149d997f5");
    const [first] = await receiveN(QueueUrl, 1, { MessageAttributeNames: ["Hel.*"] });
    assert.deepEqual(Object.keys(first.MessageAttributes ?? {}).sort(), ["Hello", "Help.Me"],
      'MessageAttributeNames ["Hel.*"] selects the attributes whose name starts with "Hel"');
    assert.equal(first.MD5OfMessageAttributes, "83fee93c1bcd8b9a5a923ffacdc636c7");
    await sqs.send(
      new ChangeMessageVisibilityCommand({ QueueUrl, ReceiptHandle: first.ReceiptHandle, VisibilityTimeout: 0 }),
    );
    const [again] = await receiveN(QueueUrl, 1);
    assert.equal(again.MessageId, first.MessageId);
    await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: again.ReceiptHandle }));
  });

  // moto differs: it accepts the invalid character, so the last assertion fails against moto.
  test("errors: QueueDoesNotExist and friends", async () => {
    await assert.rejects(
      sqs.send(new GetQueueUrlCommand({ QueueName: `e2e-node-missing-${randomUUID().slice(0, 8)}` })),
      (err) => {
        assert.ok(err instanceof QueueDoesNotExist, `got ${err.name}`);
        assert.equal(err.name, "QueueDoesNotExist");
        assert.equal(err.$metadata.httpStatusCode, 400);
        assert.equal(err.message, "The specified queue does not exist.");
        assert.ok(err.$metadata.requestId, "x-amzn-RequestId");
        return true;
      },
    );
    const { QueueUrl } = await createQueue("errors");
    await assert.rejects(
      sqs.send(new SendMessageBatchCommand({
        QueueUrl,
        Entries: Array.from({ length: 11 }, (_, i) => ({ Id: `e${i}`, MessageBody: "x" })),
      })),
      (err) => {
        assert.equal(err.name, "TooManyEntriesInBatchRequest");
        assert.equal(err.message, "Maximum number of entries per request are 10. You have sent 11.");
        return true;
      },
    );
    await assert.rejects(
      sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: "garbage" })),
      (err) => {
        assert.equal(err.name, "ReceiptHandleIsInvalid");
        return true;
      },
    );
    await assert.rejects(
      sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "bad \u0001 char" })),
      (err) => {
        assert.equal(err.name, "InvalidMessageContents");
        return true;
      },
    );
  });
});
