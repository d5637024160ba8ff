// SNS through the AWS SDK for JavaScript v3 (@aws-sdk/client-sns, Query protocol): a topic fans
// out to SQS queues, enveloped and raw, and FIFO topics keep order.
//
// The endpoint comes from FERRY_ENDPOINT (tests/e2e/run.sh, or
// `python3 tests/e2e/harness/with_server.py -- node --test tests/e2e/node/`).

import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import {
  SNSClient,
  CreateTopicCommand,
  DeleteTopicCommand,
  SubscribeCommand,
  PublishCommand,
  PublishBatchCommand,
  GetTopicAttributesCommand,
  NotFoundException,
} from "@aws-sdk/client-sns";
import {
  SQSClient,
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
} from "@aws-sdk/client-sqs";

const endpoint = process.env.FERRY_ENDPOINT;
if (!endpoint) {
  throw new Error("FERRY_ENDPOINT is not set; run through tests/e2e/run.sh or harness/with_server.py");
}
const common = {
  endpoint,
  region: "us-east-1",
  credentials: { accessKeyId: "test", secretAccessKey: "test" },
  maxAttempts: 1,
};
const sns = new SNSClient(common);
const sqs = new SQSClient(common);

async function queue(fifo = false) {
  const name = `node-sns-${randomUUID().slice(0, 8)}${fifo ? ".fifo" : ""}`;
  const { QueueUrl } = await sqs.send(
    new CreateQueueCommand({ QueueName: name, Attributes: fifo ? { FifoQueue: "true" } : {} }),
  );
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }),
  );
  return { url: QueueUrl, arn: Attributes.QueueArn };
}

async function receiveAll(url, expect) {
  const got = [];
  const deadline = Date.now() + 10_000;
  while (got.length < expect && Date.now() < deadline) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        VisibilityTimeout: 600,
        MessageAttributeNames: ["All"],
      }),
    );
    got.push(...Messages);
  }
  return got;
}

describe("SNS to SQS", () => {
  test("publish fans out, enveloped and raw", async () => {
    const { TopicArn } = await sns.send(
      new CreateTopicCommand({ Name: `node-${randomUUID().slice(0, 8)}` }),
    );
    const env = await queue();
    const raw = await queue();
    await sns.send(new SubscribeCommand({ TopicArn, Protocol: "sqs", Endpoint: env.arn }));
    await sns.send(
      new SubscribeCommand({
        TopicArn,
        Protocol: "sqs",
        Endpoint: raw.arn,
        Attributes: { RawMessageDelivery: "true" },
      }),
    );
    const { MessageId } = await sns.send(
      new PublishCommand({
        TopicArn,
        Message: "hello from node",
        Subject: "s",
        MessageAttributes: { k: { DataType: "String", StringValue: "v" } },
      }),
    );
    const [e] = await receiveAll(env.url, 1);
    const body = JSON.parse(e.Body);
    assert.equal(body.Type, "Notification");
    assert.equal(body.MessageId, MessageId);
    assert.equal(body.Message, "hello from node");
    assert.equal(body.Subject, "s");
    assert.deepEqual(body.MessageAttributes.k, { Type: "String", Value: "v" });
    const [r] = await receiveAll(raw.url, 1);
    assert.equal(r.Body, "hello from node");
    assert.equal(r.MessageAttributes.k.StringValue, "v");

    const batch = await sns.send(
      new PublishBatchCommand({
        TopicArn,
        PublishBatchRequestEntries: [
          { Id: "1", Message: "b1" },
          { Id: "2", Message: "b2" },
        ],
      }),
    );
    assert.equal(batch.Successful.length, 2);
    const bodies = (await receiveAll(raw.url, 2)).map((m) => m.Body).sort();
    assert.deepEqual(bodies, ["b1", "b2"]);

    await sns.send(new DeleteTopicCommand({ TopicArn }));
    await assert.rejects(
      sns.send(new GetTopicAttributesCommand({ TopicArn })),
      (err) => err instanceof NotFoundException && err.message === "Topic does not exist",
    );
    await sqs.send(new DeleteQueueCommand({ QueueUrl: env.url }));
    await sqs.send(new DeleteQueueCommand({ QueueUrl: raw.url }));
  });

  test("FIFO topic to FIFO queue keeps order", async () => {
    const { TopicArn } = await sns.send(
      new CreateTopicCommand({
        Name: `node-${randomUUID().slice(0, 8)}.fifo`,
        Attributes: { FifoTopic: "true", ContentBasedDeduplication: "true" },
      }),
    );
    const q = await queue(true);
    await sns.send(
      new SubscribeCommand({
        TopicArn,
        Protocol: "sqs",
        Endpoint: q.arn,
        Attributes: { RawMessageDelivery: "true" },
      }),
    );
    for (let i = 0; i < 10; i++) {
      const out = await sns.send(
        new PublishCommand({ TopicArn, Message: `m${i}`, MessageGroupId: "g" }),
      );
      assert.match(out.SequenceNumber, /^\d+$/);
    }
    const got = await receiveAll(q.url, 10);
    assert.deepEqual(
      got.map((m) => m.Body),
      Array.from({ length: 10 }, (_, i) => `m${i}`),
    );
    await sns.send(new DeleteTopicCommand({ TopicArn }));
    await sqs.send(new DeleteQueueCommand({ QueueUrl: q.url }));
  });
});
