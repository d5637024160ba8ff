#!/usr/bin/env python3
"""Generates Ferry's trimmed AWS service models (src/aws/models/<service>.json).

The trimmed model keeps what the wire codecs in src/aws need and drops the rest (documentation,
HTTP bindings, examples): metadata, operations (input, output, resultWrapper, errors) and shapes
(type, members with shape/locationName/flattened, required, list member, map key/value,
min/max/enum, error code/httpStatusCode/senderFault).

SQS switched its SDK models from the Query protocol to JSON 1.0 (with awsQueryCompatible) in
November 2023 and the new botocore models lost the Query serialization names (locationName,
flattened on members), the xmlNamespace and the Query error codes. SQS still answers Query
requests, so the SQS model is merged:

  base      the machine's botocore (newest operations and members),
  enriched  with the Query names, xmlNamespace, resultWrappers and error codes of the older
            model shipped with Debian's aws CLI v2 (awscli 2.9, still Query),
  overrides for what neither botocore model has, taken from AWS's current Smithy model of SQS
            (xmlName/xmlFlattened and awsQueryError traits; as published in aws-sdk-js-v3,
            clients/client-sqs/src/schemas/schemas_0.ts) -- see SQS_OVERRIDES below.

Members that exist only in the new model and have no override use the Query protocol's default
naming: the member name; lists Name.member.N unless flattened; maps Name.entry.N.key/value
unless flattened.

SNS is Query-native and comes from the machine's botocore as is (trimmed).

Usage (reproducible; no network):
  python3 tools/gen_aws_model.py            # writes src/aws/models/sqs.json and sns.json
  python3 tools/gen_aws_model.py --check    # exits 1 if the checked-in files are stale
"""

import argparse
import gzip
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "src", "aws", "models")
DEBIAN_AWSCLI_DATA = "/usr/lib/python3/dist-packages/awscli/botocore/data"

METADATA_KEYS = [
    "apiVersion",
    "protocol",
    "protocols",
    "jsonVersion",
    "targetPrefix",
    "xmlNamespace",
    "awsQueryCompatible",
    "serviceId",
    "endpointPrefix",
    "signingName",
]
SHAPE_KEYS = ["type", "flattened", "locationName", "min", "max", "enum", "timestampFormat"]
MEMBER_KEYS = ["shape", "locationName", "flattened", "timestampFormat"]

# What AWS's Smithy model of SQS says and neither botocore model carries.
SQS_OVERRIDES = {
    # ReceiveMessageRequest.MessageSystemAttributeNames (2024): @xmlName("AttributeName")
    # @xmlFlattened, the same wire name as the deprecated AttributeNames.
    "list_member_location": {
        "MessageSystemAttributeList": "AttributeName",
        # ListMessageMoveTasksResult.Results: @xmlName("ListMessageMoveTasksResultEntry").
        "ListMessageMoveTasksResultEntryList": "ListMessageMoveTasksResultEntry",
    },
    # awsQueryError traits of errors that the old botocore model does not describe.
    "errors": {
        "InvalidAddress": ("InvalidAddress", 404),
        "InvalidSecurity": ("InvalidSecurity", 403),
        "KmsAccessDenied": ("KMS.AccessDeniedException", 400),
        "KmsDisabled": ("KMS.DisabledException", 400),
        "KmsInvalidKeyUsage": ("KMS.InvalidKeyUsageException", 400),
        "KmsInvalidState": ("KMS.InvalidStateException", 400),
        "KmsNotFound": ("KMS.NotFoundException", 400),
        "KmsOptInRequired": ("KMS.OptInRequired", 403),
        "KmsThrottled": ("KMS.ThrottlingException", 400),
        "ReceiptHandleIsInvalid": ("ReceiptHandleIsInvalid", 404),
        "RequestThrottled": ("RequestThrottled", 403),
        "ResourceNotFoundException": ("ResourceNotFoundException", 404),
    },
}


def load(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def botocore_data_dir():
    import botocore  # the machine's botocore; only its data files are read

    return os.path.join(os.path.dirname(botocore.__file__), "data")


def find_model(data_dir, service, version):
    base = os.path.join(data_dir, service, version, "service-2.json")
    for path in (base, base + ".gz"):
        if os.path.exists(path):
            return path
    raise SystemExit(f"no model for {service} {version} under {data_dir}")


def package_version(data_dir, package_root_levels):
    """The __version__ of the package that owns a botocore data directory, for provenance."""
    root = data_dir
    for _ in range(package_root_levels):
        root = os.path.dirname(root)
    try:
        with open(os.path.join(root, "__init__.py"), encoding="utf-8") as f:
            match = re.search(r"__version__ = ['\"]([^'\"]+)['\"]", f.read())
        return match.group(1) if match else "unknown"
    except OSError:
        return "unknown"


def pick(src, keys):
    return {k: src[k] for k in keys if k in src}


def trim_member(ref):
    return pick(ref, MEMBER_KEYS)


def trim_shape(shape):
    out = pick(shape, SHAPE_KEYS)
    t = shape["type"]
    if t == "structure":
        if shape.get("required"):
            out["required"] = list(shape["required"])
        out["members"] = {name: trim_member(ref) for name, ref in shape.get("members", {}).items()}
    elif t == "list":
        out["member"] = trim_member(shape["member"])
    elif t == "map":
        out["key"] = trim_member(shape["key"])
        out["value"] = trim_member(shape["value"])
    if shape.get("exception"):
        out["exception"] = True
        err = shape.get("error", {})
        out["error"] = pick(err, ["code", "httpStatusCode", "senderFault"])
        if shape.get("fault"):
            out["error"]["senderFault"] = False
    return out


def trim_operation(op):
    out = {"name": op["name"]}
    if "input" in op:
        out["input"] = {"shape": op["input"]["shape"]}
    if "output" in op:
        out["output"] = pick(op["output"], ["shape", "resultWrapper"])
    out["errors"] = [e["shape"] for e in op.get("errors", [])]
    return out


def trim_model(model):
    return {
        "metadata": pick(model["metadata"], METADATA_KEYS),
        "operations": {name: trim_operation(op) for name, op in model["operations"].items()},
        "shapes": {name: trim_shape(s) for name, s in model["shapes"].items()},
    }


def complete_errors(model):
    """An exception without a Query code uses its shape name, HTTP 400 and the sender's fault,
    as the Query protocol does."""
    for name, shape in model["shapes"].items():
        err = shape.get("error")
        if err is None:
            continue
        if not err.get("code"):
            err["code"] = name
        if "senderFault" not in err:
            err["senderFault"] = True
        if not err.get("httpStatusCode"):
            err["httpStatusCode"] = 400 if err["senderFault"] else 500
        # Keep a stable key order whatever the source's.
        shape["error"] = {k: err[k] for k in ("code", "httpStatusCode", "senderFault")}


def merge_query_names(new, old, overrides):
    """Enriches the trimmed new model with the Query serialization of the trimmed old one."""
    meta = new["metadata"]
    if "xmlNamespace" in old["metadata"]:
        meta["xmlNamespace"] = old["metadata"]["xmlNamespace"]

    for name, op in new["operations"].items():
        old_op = old["operations"].get(name, {})
        if "output" in op:
            wrapper = old_op.get("output", {}).get("resultWrapper")
            op["output"]["resultWrapper"] = wrapper or name + "Result"

    for name, shape in new["shapes"].items():
        old_shape = old["shapes"].get(name)
        if old_shape is None:
            continue
        for key in ("flattened", "locationName"):
            if key in old_shape:
                shape[key] = old_shape[key]
        if shape["type"] == "structure":
            for mname, ref in shape["members"].items():
                old_ref = old_shape.get("members", {}).get(mname)
                if old_ref is None:
                    continue
                for key in ("locationName", "flattened"):
                    if key in old_ref:
                        ref[key] = old_ref[key]
        elif shape["type"] == "list" and "member" in old_shape:
            if "locationName" in old_shape["member"]:
                shape["member"]["locationName"] = old_shape["member"]["locationName"]
        elif shape["type"] == "map":
            for part in ("key", "value"):
                if "locationName" in old_shape.get(part, {}):
                    shape[part]["locationName"] = old_shape[part]["locationName"]
        if "error" in shape and old_shape.get("error", {}).get("code"):
            shape["error"] = {
                "code": old_shape["error"]["code"],
                "httpStatusCode": old_shape["error"].get("httpStatusCode", 400),
                "senderFault": bool(old_shape["error"].get("senderFault", False)),
            }

    for list_name, location in overrides.get("list_member_location", {}).items():
        shape = new["shapes"][list_name]
        assert shape["type"] == "list", list_name
        shape["member"]["locationName"] = location
        shape["flattened"] = True
    for err_name, (code, status) in overrides.get("errors", {}).items():
        shape = new["shapes"][err_name]
        if shape["error"].get("code"):
            continue  # the old model knew it; keep the old model's word
        shape["error"] = {"code": code, "httpStatusCode": status, "senderFault": True}


def generate(args):
    data = args.botocore_data or botocore_data_dir()
    outputs = {}

    new_sqs = trim_model(load(find_model(data, "sqs", "2012-11-05")))
    old_sqs = trim_model(load(find_model(args.debian_data, "sqs", "2012-11-05")))
    merge_query_names(new_sqs, old_sqs, SQS_OVERRIDES)
    complete_errors(new_sqs)
    new_sqs["metadata"]["ferrySources"] = {
        "botocore": package_version(data, 1),
        "queryNamesFrom": "awscli " + package_version(args.debian_data, 2),
    }
    outputs["sqs"] = new_sqs

    sns = trim_model(load(find_model(data, "sns", "2010-03-31")))
    complete_errors(sns)
    sns["metadata"]["ferrySources"] = {"botocore": package_version(data, 1)}
    outputs["sns"] = sns

    kinesis = trim_model(load(find_model(data, "kinesis", "2013-12-02")))
    complete_errors(kinesis)
    kinesis["metadata"]["ferrySources"] = {"botocore": package_version(data, 1)}
    outputs["kinesis"] = kinesis

    return {name: json.dumps(model, indent=1, ensure_ascii=True) + "\n"
            for name, model in outputs.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--botocore-data", help="botocore data directory (default: the "
                        "installed botocore's)")
    parser.add_argument("--debian-data", default=DEBIAN_AWSCLI_DATA,
                        help="data directory of the older, Query-era botocore")
    parser.add_argument("--out", default=OUT_DIR)
    parser.add_argument("--check", action="store_true",
                        help="compare with the files on disk instead of writing them")
    args = parser.parse_args()

    texts = generate(args)
    stale = False
    for name, text in texts.items():
        path = os.path.join(args.out, name + ".json")
        if args.check:
            try:
                with open(path, encoding="utf-8") as f:
                    current = f.read()
            except FileNotFoundError:
                current = None
            if current != text:
                print(f"stale: {path}", file=sys.stderr)
                stale = True
        else:
            os.makedirs(args.out, exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            print(f"wrote {path} ({len(text)} bytes)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
