"""ECR registry replication: copies pushed images to the configured destinations after a
per-destination-region lag, DescribeImageReplicationStatus, and bulk seeding of old images."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from datetime import datetime
from typing import Any

from werkzeug.wrappers import Response

from localaws.admin import AdminError, body_json, require
from localaws.awsreq import AwsCall
from localaws.errors import error_response


class EcrState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "lock", threading.RLock()):
            self.lag: dict[str, float] = {}  # destination region -> seconds
            self.failures: dict[tuple[str, str | None], str] = {}  # (region, registry) -> code
            # (src account, src region, repo, digest) -> {(dst region, dst registry): rec}
            self.replications: dict[tuple[str, str, str, str], dict[tuple[str, str], dict]] = {}
            self.pending = 0


STATE = EcrState()


def _backend(account: str, region: str):
    from moto.ecr.models import ecr_backends

    return ecr_backends[account][region]


def _destinations(account: str, region: str, repo: str) -> list[tuple[str, str]]:
    config = _backend(account, region).replication_config or {}
    out: list[tuple[str, str]] = []
    for rule in config.get("rules", []):
        filters = rule.get("repositoryFilters") or []
        if filters and not any(repo.startswith(f.get("filter", "")) for f in filters):
            continue
        for dest in rule.get("destinations", []):
            d = (dest["region"], str(dest.get("registryId") or account))
            if d != (region, account) and d not in out:
                out.append(d)
    return out


def _failure(region: str, registry: str) -> str | None:
    return STATE.failures.get((region, registry)) or STATE.failures.get((region, None))


def _ensure_repo(account: str, region: str, name: str):
    backend = _backend(account, region)
    if name not in backend.repositories:
        backend.create_repository(
            repository_name=name, registry_id=None, encryption_config=None,
            image_scan_config={"scanOnPush": False}, image_tag_mutability="MUTABLE", tags=[])
    return backend.repositories[name]


def _copy_image(src_image, dst_account: str, dst_region: str, repo: str) -> None:
    from moto.ecr.models import Image

    dst_repo = _ensure_repo(dst_account, dst_region, repo)
    digest = src_image.get_image_digest()
    existing = next((i for i in dst_repo.images if i.get_image_digest() == digest), None)
    if existing is not None:
        for tag in src_image.image_tags:
            existing.update_tag(tag)
        return
    img = Image(dst_account, src_image.image_tag, src_image.image_manifest, repo,
                src_image.image_manifest_media_type, digest, dst_account)
    img.image_tags = list(src_image.image_tags)
    img.image_pushed_at = src_image.image_pushed_at
    dst_repo.images.append(img)


def _find_image(account: str, region: str, repo: str, digest: str | None = None,
                tag: str | None = None):
    backend = _backend(account, region)
    repository = backend.repositories.get(repo)
    if repository is None:
        return None, None
    for img in repository.images:
        if digest and img.get_image_digest() == digest:
            return repository, img
        if tag and tag in img.image_tags:
            return repository, img
    return repository, None


def tick() -> None:
    """Materialise every replication whose lag has elapsed (lazy, on each ECR call)."""
    if not STATE.pending:
        return
    now = time.time()
    with STATE.lock:
        pending = 0
        for (acct, region, repo, digest), dests in STATE.replications.items():
            for (dregion, dregistry), rec in dests.items():
                if rec["status"] != "IN_PROGRESS":
                    continue
                code = _failure(dregion, dregistry)
                if code:
                    rec["status"], rec["failureCode"] = "FAILED", code
                    continue
                if now < rec["ready_at"]:
                    pending += 1
                    continue
                _, img = _find_image(acct, region, repo, digest=digest)
                if img is not None:
                    _copy_image(img, dregistry, dregion, repo)
                rec["status"] = "COMPLETE"
        STATE.pending = pending


def after_put_image(call: AwsCall, result) -> None:
    if result.status != 200:
        return None
    image = result.json().get("image", {})
    repo = image.get("repositoryName") or call.params().get("repositoryName")
    digest = (image.get("imageId") or {}).get("imageDigest")
    if not repo or not digest:
        return None
    dests = _destinations(call.account, call.region, repo)
    if not dests:
        return None
    now = time.time()
    with STATE.lock:
        recs = STATE.replications.setdefault((call.account, call.region, repo, digest), {})
        for dregion, dregistry in dests:
            recs[(dregion, dregistry)] = {"status": "IN_PROGRESS", "failureCode": None,
                                          "ready_at": now + STATE.lag.get(dregion, 0.0)}
            STATE.pending += 1
    tick()
    return None


def describe_replication_status(call: AwsCall) -> Response:
    p = call.params()
    repo = p.get("repositoryName")
    image_id = p.get("imageId") or {}
    account = str(p.get("registryId") or call.account)
    tick()
    repository, img = _find_image(account, call.region, repo, image_id.get("imageDigest"),
                                  image_id.get("imageTag"))
    if repository is None:
        return error_response(call, "RepositoryNotFoundException",
                              f"The repository with name '{repo}' does not exist in the registry with id '{account}'")
    if img is None:
        return error_response(call, "ImageNotFoundException",
                              f"The image with imageId {json.dumps(image_id)} does not exist within the repository with name '{repo}' in the registry with id '{account}'")
    digest = img.get_image_digest()
    with STATE.lock:
        recs = STATE.replications.get((account, call.region, repo, digest), {})
        statuses = []
        for (dregion, dregistry), rec in recs.items():
            row = {"region": dregion, "registryId": dregistry, "status": rec["status"]}
            if rec.get("failureCode"):
                row["failureCode"] = rec["failureCode"]
            statuses.append(row)
    out_id = {"imageDigest": digest}
    if image_id.get("imageTag"):
        out_id["imageTag"] = image_id["imageTag"]
    body = {"repositoryName": repo, "imageId": out_id, "replicationStatuses": statuses}
    return Response(json.dumps(body), status=200, content_type="application/x-amz-json-1.1")


# -- admin ----------------------------------------------------------------------------------
def admin_get(req) -> dict[str, Any]:
    tick()
    with STATE.lock:
        return {
            "lagSeconds": dict(STATE.lag),
            "failures": [{"region": r, "registryId": reg, "failureCode": c}
                         for (r, reg), c in STATE.failures.items()],
            "replications": [
                {"account": a, "region": r, "repositoryName": repo, "imageDigest": d,
                 "destinations": [{"region": dr, "registryId": dreg, "status": rec["status"],
                                   "failureCode": rec.get("failureCode")}
                                  for (dr, dreg), rec in dests.items()]}
                for (a, r, repo, d), dests in STATE.replications.items()][:1000],
        }


def admin_settings(req) -> dict[str, Any]:
    data = body_json(req)
    with STATE.lock:
        for region, seconds in (data.get("lagSeconds") or {}).items():
            STATE.lag[region] = max(0.0, float(seconds))
        for f in data.get("failures") or []:
            (region,) = require(f, "region")
            key = (region, str(f["registryId"]) if f.get("registryId") else None)
            if f.get("clear"):
                STATE.failures.pop(key, None)
            else:
                STATE.failures[key] = f.get("failureCode") or "REPLICATION_FAILED"
        if data.get("clearFailures"):
            STATE.failures.clear()
    return admin_get(req)


def _epoch(value: Any) -> int:
    if value is None:
        return int(time.time())
    if isinstance(value, (int, float)):
        return int(value)
    return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp())


def admin_seed(req) -> tuple[int, dict[str, Any]]:
    from moto.ecr.models import Image

    data = body_json(req)
    account, region, repo = require(data, "account", "region", "repositoryName")
    account = str(account)
    count = int(data.get("count", 1))
    if not 0 < count <= 100_000:
        raise AdminError("count must be within 1..100000")
    pushed = _epoch(data.get("pushedAt"))
    spread = int(data.get("spreadSeconds", 0))
    prefix = data.get("tagPrefix", "seed-")
    untagged = bool(data.get("untagged", False))
    replicated = bool(data.get("replicated", True))
    media = "application/vnd.docker.distribution.manifest.v2+json"
    with STATE.lock:
        repository = _ensure_repo(account, region, repo)
        dests = _destinations(account, region, repo) if replicated else []
        dest_repos = [(_ensure_repo(dreg, dr, repo), dr, dreg) for dr, dreg in dests]
        nonce = f"{time.time_ns()}"
        digests = []
        for i in range(count):
            layer = hashlib.sha256(f"{repo}/{nonce}/{i}".encode()).hexdigest()
            manifest = json.dumps({
                "schemaVersion": 2, "mediaType": media,
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                           "size": 1000 + i, "digest": f"sha256:{layer}"},
                "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                            "size": 2000 + i, "digest": f"sha256:{layer}"}]})
            digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
            tag = None if untagged else f"{prefix}{i}"
            ts = pushed - (spread * i // max(count - 1, 1) if spread else 0)
            img = Image(account, tag, manifest, repo, media, digest, account)
            img.image_pushed_at = ts
            repository.images.append(img)
            for drepo, dr, dreg in dest_repos:
                copy = Image(dreg, tag, manifest, repo, media, digest, dreg)
                copy.image_pushed_at = ts
                drepo.images.append(copy)
            if dests:
                STATE.replications[(account, region, repo, digest)] = {
                    (dr, dreg): {"status": "COMPLETE", "failureCode": None, "ready_at": 0.0}
                    for dr, dreg in dests}
            digests.append(digest)
    return 201, {"created": count, "repositoryName": repo, "account": account, "region": region,
                 "pushedAt": pushed, "replicatedTo": [{"region": r, "registryId": g} for r, g in dests],
                 "firstDigest": digests[0], "lastDigest": digests[-1]}


def register(app) -> None:
    app.on_tick("ecr", tick)
    app.after("ecr", "PutImage", after_put_image)
    app.on("ecr", "DescribeImageReplicationStatus", describe_replication_status)
    app.on_reset(STATE.reset)
    app.admin.route("GET", "/ecr/replication", admin_get)
    app.admin.route("POST", "/ecr/replication", admin_settings)
    app.admin.route("POST", "/ecr/seed", admin_seed)
