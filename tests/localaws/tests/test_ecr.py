import json
import time

import pytest
from botocore.exceptions import ClientError

from conftest import PROD, SHARED

MANIFEST = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7,
               "digest": "sha256:" + "a" * 64},
    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 9,
                "digest": "sha256:" + "b" * 64}]})


def _setup(aws):
    src = aws("ecr", account=SHARED, region="eu-central-1")
    src.create_repository(repositoryName="svc/api")
    src.put_replication_configuration(replicationConfiguration={"rules": [{"destinations": [
        {"region": "us-east-1", "registryId": SHARED},
        {"region": "eu-central-1", "registryId": PROD}]}]})
    assert src.describe_registry()["replicationConfiguration"]["rules"][0]["destinations"]
    return src


def test_replication_lag_status_and_copy(aws, adm):
    adm("POST", "/ecr/replication", {"lagSeconds": {"us-east-1": 0.3}})
    src = _setup(aws)
    image = src.put_image(repositoryName="svc/api", imageManifest=MANIFEST, imageTag="v1")["image"]
    digest = image["imageId"]["imageDigest"]
    st = src.describe_image_replication_status(repositoryName="svc/api",
                                               imageId={"imageTag": "v1"})
    by_region = {(s["region"], s["registryId"]): s["status"] for s in st["replicationStatuses"]}
    assert by_region == {("us-east-1", SHARED): "IN_PROGRESS", ("eu-central-1", PROD): "COMPLETE"}
    prod = aws("ecr", account=PROD, region="eu-central-1")
    assert prod.describe_images(repositoryName="svc/api")["imageDetails"][0]["imageDigest"] == digest
    us = aws("ecr", account=SHARED, region="us-east-1")
    with pytest.raises(ClientError):
        us.describe_images(repositoryName="svc/api")
    time.sleep(0.35)
    assert us.describe_images(repositoryName="svc/api")["imageDetails"][0]["imageTags"] == ["v1"]
    st = src.describe_image_replication_status(repositoryName="svc/api",
                                               imageId={"imageDigest": digest})
    assert {s["status"] for s in st["replicationStatuses"]} == {"COMPLETE"}


def test_replication_failure_and_errors(aws, adm):
    adm("POST", "/ecr/replication", {"failures": [{"region": "us-east-1",
                                                   "failureCode": "REPLICATION_FAILED"}]})
    src = _setup(aws)
    src.put_image(repositoryName="svc/api", imageManifest=MANIFEST, imageTag="v1")
    st = src.describe_image_replication_status(repositoryName="svc/api", imageId={"imageTag": "v1"})
    failed = [s for s in st["replicationStatuses"] if s["region"] == "us-east-1"][0]
    assert failed["status"] == "FAILED" and failed["failureCode"] == "REPLICATION_FAILED"
    with pytest.raises(ClientError) as exc:
        src.describe_image_replication_status(repositoryName="svc/api", imageId={"imageTag": "nope"})
    assert exc.value.response["Error"]["Code"] == "ImageNotFoundException"
    with pytest.raises(ClientError) as exc:
        src.describe_image_replication_status(repositoryName="nope", imageId={"imageTag": "v1"})
    assert exc.value.response["Error"]["Code"] == "RepositoryNotFoundException"


def test_bulk_seed(aws, adm):
    src = _setup(aws)
    t0 = time.time()
    status, out = adm("POST", "/ecr/seed", {"account": SHARED, "region": "eu-central-1",
                                            "repositoryName": "svc/api", "count": 5000,
                                            "pushedAt": "2025-01-01T00:00:00Z"})
    assert status == 201, out
    assert time.time() - t0 < 10
    pages = src.get_paginator("describe_images").paginate(repositoryName="svc/api")
    details = [d for p in pages for d in p["imageDetails"]]
    assert len(details) == 5000
    assert details[0]["imagePushedAt"].year == 2025
    st = src.describe_image_replication_status(repositoryName="svc/api",
                                               imageId={"imageDigest": out["lastDigest"]})
    assert {s["status"] for s in st["replicationStatuses"]} == {"COMPLETE"}
    prod = aws("ecr", account=PROD, region="eu-central-1")
    # (moto ignores maxResults on ListImages and returns everything)
    assert len(prod.list_images(repositoryName="svc/api")["imageIds"]) == 5000
