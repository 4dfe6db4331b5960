#!/usr/bin/env python3
"""Signs a set of ECR, IAM and STS requests with botocore's SigV4 signer at fixed times and writes them,
as the server would receive them, to botocore_signed.json next to this script.

TestBotocoreRequests and FuzzVerify read that file: it is the proof that Wharf verifies what the aws CLI
and boto3 sign, and the corpus the tampering tests change. Regenerate it (the output is deterministic) with

    python3 internal/sigv4/testdata/gen_botocore.py

Needs only botocore (pip install botocore). Each entry holds the method, the URL, the headers as sent (in
order, repeated ones repeated), the body, the signing time, key, secret, region and service, and "want":
"" when the request must verify, else the error code Wharf must answer.
"""

import datetime
import hashlib
import json
import os
from unittest import mock

import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode_sequence

KEY, SECRET = "AKIAWHARFTESTKEY0001", "wharf/Test+Secret/0123456789abcdefghijklmn"
SESSION_KEY, SESSION_SECRET = "ASIAWHARFTESTSESSION", "session+secret/ZYXWVUTSRQPONMLKJIHGFEDCBA98"
SESSION_TOKEN = "FwoGZXIvYXdzEBYaDH+wharf/session=token"

ECR_TARGET = "AmazonEC2ContainerRegistry_V20150921."
JSON_TYPE = "application/x-amz-json-1.1"
FORM_TYPE = "application/x-www-form-urlencoded; charset=utf-8"


def ecr(op, body, **kw):
    headers = {"X-Amz-Target": ECR_TARGET + op, "Content-Type": JSON_TYPE}
    headers.update(kw.pop("headers", {}))
    return dict(method="POST", body=body, headers=headers, service="ecr", **kw)


def query(service, params, **kw):
    headers = {"Content-Type": FORM_TYPE}
    headers.update(kw.pop("headers", {}))
    return dict(method="POST", body=percent_encode_sequence(params), headers=headers, service=service, **kw)


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


UPLOAD = json.dumps({"repositoryName": "team/app", "uploadId": "0b7c3c1e", "partFirstByte": 0, "partLastByte": 3,
                     "layerPartBlob": "AAECAw=="}, separators=(",", ":"))
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "annotations": {"org.opencontainers.image.description": "café ☕ – 東京 \U0001F433"}},
                      ensure_ascii=False)

CASES = [
    ("ecr-describe-repositories", ecr("DescribeRepositories", '{"maxResults":2}')),
    ("ecr-empty-body", ecr("DescribeRegistry", "")),
    ("ecr-get-authorization-token", ecr("GetAuthorizationToken", "{}", url="https://localhost:5000/")),
    ("ecr-put-image-unicode", ecr("PutImage", json.dumps(
        {"repositoryName": "app", "imageTag": "v1", "imageManifest": MANIFEST}, ensure_ascii=False))),
    ("ecr-put-image-escaped-unicode", ecr("PutImage", json.dumps(
        {"repositoryName": "app", "imageTag": "v2", "imageManifest": MANIFEST}))),
    ("ecr-upload-layer-part", ecr("UploadLayerPart", UPLOAD, region="eu-west-1",
                                  url="http://111122223333.dkr.ecr.eu-west-1.localhost:5000/")),
    ("ecr-session-token", ecr("ListImages", '{"repositoryName":"app","filter":{"tagStatus":"TAGGED"}}',
                              key=SESSION_KEY, secret=SESSION_SECRET, token=SESSION_TOKEN)),
    ("ecr-repeated-and-spaced-headers", ecr("DescribeImages", '{"repositoryName":"app"}', headers={
        "X-Wharf-Note": "  several    spaces   inside  ", "User-Agent": "aws-cli/2.15 (unsigned)",
        "X-Amzn-Trace-Id": "Root=1-unsigned"}, repeat=[("X-Wharf-Repeated", "first"), ("x-wharf-repeated", " second  value "),
                                                        ("X-WHARF-REPEATED", "third")])),
    ("ecr-odd-query", ecr("ListImages", '{"repositoryName":"app"}',
                          url="http://localhost:5000/?b=2&a=1&a=0&empty=&flag&" +
                              percent_encode_sequence([("ключ", "значение"), ("sp ace", "a+b=c&d"), ("~t-i_l.d", "*")]))),
    ("ecr-query-params", ecr("ListImages", '{"repositoryName":"app"}',
                             params=[("z", "last"), ("A", "upper"), ("a", "lower"), ("a", ""), ("é", "ü b"), ("x y", "~*+/")])),
    ("ecr-odd-path", ecr("DescribeImages", '{"repositoryName":"app"}',
                         url="http://localhost:5000/some/./odd//path/../p%C3%A5th%20with%20space/~user/%2Fslash/")),
    ("ecr-date-header", ecr("DescribeRepositories", "{}", headers={"Date": "will be replaced by the signer"})),
    ("ecr-content-sha256-signed", ecr("DescribeRepositories", '{"repositoryNames":["app"]}',
                                      headers={"X-Amz-Content-SHA256": sha('{"repositoryNames":["app"]}')})),
    ("ecr-midnight", ecr("DescribeRepositories", "{}", at=datetime.datetime(2026, 12, 31, 23, 59, 59))),
    ("iam-list-users", query("iam", {"Action": "ListUsers", "Version": "2010-05-08"})),
    ("iam-list-users-content-sha256-signed", query("iam", {"Action": "ListUsers", "Version": "2010-05-08"}, headers={
        "X-Amz-Content-SHA256": sha(percent_encode_sequence({"Action": "ListUsers", "Version": "2010-05-08"}))})),
    ("iam-create-access-key-unicode", query("iam", {"Action": "CreateAccessKey", "UserName": "jörg+ci=1@wharf",
                                                    "Version": "2010-05-08"})),
    ("iam-put-user-policy", query("iam", {"Action": "PutUserPolicy", "UserName": "ci", "PolicyName": "push",
                                          "PolicyDocument": '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
                                                            '"Action":"ecr:*","Resource":"*"}]}',
                                          "Version": "2010-05-08"}, url="https://iam.amazonaws.com/")),
    ("sts-get-caller-identity-session", query("sts", {"Action": "GetCallerIdentity", "Version": "2011-06-15"},
                                              key=SESSION_KEY, secret=SESSION_SECRET, token=SESSION_TOKEN)),
    ("sts-assume-role", query("sts", {"Action": "AssumeRole", "RoleArn": "arn:aws:iam::111122223333:role/ci",
                                      "RoleSessionName": "build 42 ✓", "DurationSeconds": "900",
                                      "Version": "2011-06-15"})),
    # Requests that carry a signed X-Amz-Content-Sha256 which is not the SHA-256 of their body: refused.
    ("ecr-unsigned-payload", ecr("DescribeRepositories", "{}", url="https://localhost:5000/", unsigned_payload=True,
                                 want="InvalidSignatureException")),
    ("ecr-streaming-payload", ecr("DescribeRepositories", "{}",
                                  headers={"X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"},
                                  want="InvalidSignatureException")),
    ("iam-content-sha256-of-another-body", query("iam", {"Action": "CreateAccessKey", "UserName": "admin",
                                                         "Version": "2010-05-08"}, headers={
        "X-Amz-Content-SHA256": sha("Action=ListUsers&Version=2010-05-08")}, want="InvalidSignatureException")),
]

DEFAULT_TIME = datetime.datetime(2026, 5, 1, 12, 0, 0)


def sign(name, c):
    at = c.get("at", DEFAULT_TIME)
    key, secret, token = c.get("key", KEY), c.get("secret", SECRET), c.get("token")
    region = c.get("region", "us-east-1")
    url = c.get("url", "http://localhost:5000/")
    req = AWSRequest(method=c["method"], url=url, headers=c["headers"], data=c["body"].encode(),
                     params=c.get("params"))
    for k, v in c.get("repeat", []):
        req.headers[k] = v  # HTTPHeaders appends: a repeated header
    if c.get("unsigned_payload"):
        req.context["payload_signing_enabled"] = False
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=at):
        SigV4Auth(Credentials(key, secret, token), c["service"], region).add_auth(req)
    prepared = req.prepare()
    return {
        "name": name,
        "method": req.method,
        "url": prepared.url,
        "headers": [[k, v] for k, v in req.headers.items()],
        "body": c["body"],
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "key": key,
        "secret": secret,
        "region": region,
        "service": c["service"],
        "want": c.get("want", ""),
    }


def main():
    out = [sign(name, c) for name, c in CASES]
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "botocore_signed.json")
    def enc(v):
        return json.dumps(v, ensure_ascii=False)

    cases = []
    for c in out:
        fields = [f'  {enc(k)}: {enc(v)}' for k, v in c.items() if k != "headers"]
        fields.append('  "headers": [\n' + ",\n".join("   " + enc(h) for h in c["headers"]) + "\n  ]")
        cases.append(" {\n" + ",\n".join(fields) + "\n }")
    with open(path, "w", encoding="utf-8") as f:
        f.write("[\n" + ",\n".join(cases) + "\n]\n")


if __name__ == "__main__":
    main()
