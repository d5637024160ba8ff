"""--public-url sets the base of the URLs SNS puts in its messages (SigningCertURL,
UnsubscribeURL), so that endpoints on other machines can reach Ferry; checked through an SQS
subscription's JSON envelope, read with boto3."""

import json
import unittest
import uuid

from harness import ferry_server

PUBLIC = "http://ferry.example.test:8080"
SERVER = None


def setUpModule():
    global SERVER
    SERVER = ferry_server.FerryServer(extra_args=["--public-url", PUBLIC + "/"])
    SERVER.start()


def tearDownModule():
    if SERVER is not None:
        SERVER.stop()


class PublicUrlTest(unittest.TestCase):
    def test_envelope_urls_use_the_public_url(self):
        sns, sqs = SERVER.client("sns"), SERVER.client("sqs")
        topic = sns.create_topic(Name=f"pub-{uuid.uuid4().hex[:10]}")["TopicArn"]
        url = sqs.create_queue(QueueName=f"pub-{uuid.uuid4().hex[:10]}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn,
                            ReturnSubscriptionArn=True)["SubscriptionArn"]
        sns.publish(TopicArn=topic, Message="where am I")
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
        envelope = json.loads(messages[0]["Body"])
        self.assertEqual(envelope["Message"], "where am I")
        self.assertEqual(envelope["SigningCertURL"],
                         PUBLIC + "/SimpleNotificationService-ferry.pem")
        self.assertTrue(envelope["UnsubscribeURL"].startswith(PUBLIC + "/?"),
                        envelope["UnsubscribeURL"])
        self.assertIn(sub, envelope["UnsubscribeURL"].replace("%3A", ":"))


if __name__ == "__main__":
    unittest.main()
