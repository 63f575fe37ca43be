//! replication-monitor against the local AWS world: the real binary under the
//! runtime emulator, lag driven up and down through the world's replication
//! controls, metrics read back from CloudWatch, alerts counted on SNS.
//!
//! Build the binary first (`make test` does): `cargo build -p replication-monitor`.

use crate::e2e::{binary, fixture};
use serde_json::{json, Value};
use std::time::Duration;
use testkit::runtime::FunctionProcess;
use testkit::topology::{Spec, Topology};
use testkit::{LocalAws, PRIMARY, SECONDARY, SHARED_SERVICES};
use tokio::sync::Mutex;

/// The tests take turns: ECR replication lag and failures are per destination region
/// in the local world, and the call counters are global.
static TURN: Mutex<()> = Mutex::const_new(());

struct World {
    world: &'static LocalAws,
    topology: Topology,
    config: Value,
    f: FunctionProcess,
}

fn namespace(suffix: &str) -> String {
    format!("ControlPlane-{suffix}")
}

/// A topology plus the monitor's config: ECR through the shared-services role,
/// one S3 rule, the topology's secret, thresholds of a few seconds.
async fn setup(suffix: &str, tweak: impl FnOnce(&mut Value)) -> World {
    let world = LocalAws::shared().await;
    let topology = Topology::create(world, Spec::new(suffix))
        .await
        .expect("topology");
    let mut config = topology.config();
    config["metrics_namespace"] = json!(namespace(suffix));
    config["replication"]["window"] = json!("1h");
    config["replication"]["ecr"]["lag_threshold"] = json!("3s");
    config["replication"]["secrets"]["lag_threshold"] = json!("3s");
    config["replication"]["s3"] = json!({
        "rules": [{
            "source_bucket": format!("bundles-{suffix}-eu"),
            "destination_bucket": format!("bundles-{suffix}-us"),
            "rule_id": format!("all-{suffix}"),
            "source_region": PRIMARY,
            "destination_region": SECONDARY,
        }],
        "lag_threshold": "15m",
        "pending_threshold": 100,
    });
    tweak(&mut config);

    // The registry replicates the primary's repositories to the secondary.
    testkit::topology::replicate_ecr(world)
        .await
        .expect("replication configuration");
    s3_metrics(world, &config, 30.0, 0.0, 0.0).await;

    let mut env = world.function_env(&topology.spec.account, PRIMARY);
    env.push(("CONTROL_PLANE_CONFIG".into(), config.to_string()));
    let f = FunctionProcess::spawn(&binary("replication-monitor"), "replication-monitor", &env)
        .await
        .expect("function starts");
    World {
        world,
        topology,
        config,
        f,
    }
}

async fn s3_metrics(world: &LocalAws, config: &Value, latency: f64, pending: f64, failed: f64) {
    let rule = &config["replication"]["s3"]["rules"][0];
    world
        .post(
            "/s3/replication-metrics",
            json!({
                "account": config["allowed_accounts"][1],
                "sourceRegion": PRIMARY, "destinationRegion": SECONDARY,
                "sourceBucket": rule["source_bucket"], "destinationBucket": rule["destination_bucket"], "ruleId": rule["rule_id"],
                "ReplicationLatency": latency, "OperationsPendingReplication": pending, "OperationsFailedReplication": failed,
            }),
        )
        .await;
}

/// Pushes a unique image; returns its digest.
async fn push(world: &LocalAws, repo: &str, tag: &str) -> String {
    testkit::topology::push_image(world, repo, tag)
        .await
        .expect("put image")
}

impl World {
    async fn invoke(&mut self, payload: Value) -> Value {
        self.f
            .invoke(payload)
            .await
            .expect("invoke")
            .ok()
            .unwrap_or_else(|e| panic!("function failed: {e}"))
    }

    async fn tick(&mut self) -> Value {
        self.invoke(json!({"task": "tick"})).await
    }

    /// Alerts on this world's home topic, by subject.
    async fn alerts(&self) -> Vec<String> {
        let topic = &self.topology.topics[PRIMARY];
        let out = self
            .world
            .get(&format!("/sns/messages?topicArn={topic}"))
            .await;
        out["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["subject"].as_str().map(str::to_string))
            .collect()
    }

    fn count(alerts: &[String], needle: &str) -> usize {
        alerts.iter().filter(|s| s.contains(needle)).count()
    }

    /// The latest published value of a metric in this world's namespace.
    async fn metric(&self, name: &str, dims: &[(&str, &str)]) -> Option<f64> {
        self.topology
            .latest_metric(self.world, name, dims, "Maximum")
            .await
            .expect("GetMetricData")
    }

    /// A per-kind metric towards the secondary region.
    async fn kind_metric(&self, name: &str, kind: &str) -> Option<f64> {
        self.metric(name, &[("Kind", kind), ("DestinationRegion", SECONDARY)])
            .await
    }

    /// Exactly one "over threshold" and one "recovered" alert for `kind` so far.
    async fn assert_one_crossing(&self, kind: &str) {
        let alerts = self.alerts().await;
        for what in ["over threshold", "recovered"] {
            let subject = format!("{kind} replication {what}");
            assert_eq!(Self::count(&alerts, &subject), 1, "{subject}: {alerts:?}");
        }
    }

    /// Holds the secondary replica of `secret` in `status` (InProgress, Failed, InSync).
    async fn replica(&self, secret: &str, status: &str) {
        self.world
            .post(
                "/secretsmanager/replica-status",
                json!({"secretId": secret, "region": SECONDARY, "status": status, "message": "KMS key denied"}),
            )
            .await;
    }

    async fn ready(&self, region: &str) -> Option<f64> {
        self.metric("ReplicationReady", &[("DestinationRegion", region)])
            .await
    }

    async fn stop(self) {
        self.f.stop().await;
    }
}

/// The first reported resource that matches.
fn resource(out: &Value, matches: impl Fn(&Value) -> bool) -> Value {
    out["state"]["resources"]
        .as_array()
        .and_then(|all| all.iter().find(|r| matches(r)))
        .cloned()
        .unwrap_or_else(|| panic!("no such resource in {out}"))
}

fn verdict(out: &Value, kind: &str) -> String {
    out["state"]["kinds"][kind]["verdict"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn ecr_lag_goes_up_and_down_with_one_alert_per_crossing() {
    let _turn = TURN.lock().await;
    let mut w = setup("rm-ecr", |_| {}).await;
    let repo = w.topology.spec.ecr_repositories[0].clone();
    w.world
        .post(
            "/ecr/replication",
            json!({"lagSeconds": {SECONDARY: 8}, "clearFailures": true}),
        )
        .await;
    let digest = push(w.world, &repo, "v1").await;
    let pushed = std::time::Instant::now();

    // The PUSH event: the image is watched at once; young, so still ready.
    let mut event = fixture("ecr-image-action.json");
    event["detail"]["repository-name"] = json!(repo);
    event["detail"]["image-digest"] = json!(digest);
    event["time"] = json!(chrono::Utc::now().to_rfc3339());
    let out = w.invoke(event).await;
    assert_eq!(out["trigger"], "ecr_push", "{out}");
    assert_eq!(verdict(&out, "ecr"), "ready", "{out}");
    let image = resource(&out, |r| r["kind"] == "ecr");
    assert_eq!(image["status"], "in_progress");
    assert_eq!(w.ready(SECONDARY).await, Some(1.0));

    // Past the 3 s threshold: not ready, one alert, lag published.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let out = w.tick().await;
    assert_eq!(verdict(&out, "ecr"), "not_ready", "{out}");
    assert_eq!(out["state"]["regions"][SECONDARY]["verdict"], "not_ready");
    assert_eq!(out["outcome"], "applied");
    let lag = w
        .kind_metric("ReplicationLagSeconds", "ecr")
        .await
        .expect("lag metric");
    assert!(lag >= 3.0, "lag {lag}");
    assert_eq!(w.kind_metric("ReplicationPending", "ecr").await, Some(1.0));
    assert_eq!(w.ready(SECONDARY).await, Some(0.0));
    assert_eq!(w.ready(PRIMARY).await, Some(1.0));
    let out = w.tick().await;
    assert_eq!(out["outcome"], "noop", "still over: no new alert");
    assert_eq!(
        World::count(&w.alerts().await, "ecr replication over threshold"),
        1
    );

    // The world finishes replicating: recovered, one recovery alert, lag back to 0.
    let left = Duration::from_secs(9).saturating_sub(pushed.elapsed());
    tokio::time::sleep(left).await;
    let out = w.tick().await;
    assert_eq!(verdict(&out, "ecr"), "ready", "{out}");
    let image = resource(&out, |r| r["kind"] == "ecr");
    assert_eq!(image["status"], "replicated");
    w.tick().await;
    w.assert_one_crossing("ecr").await;
    assert_eq!(
        w.kind_metric("ReplicationLagSeconds", "ecr").await,
        Some(0.0)
    );
    assert_eq!(w.ready(SECONDARY).await, Some(1.0));

    // A failed replication: reported with its failure code, alerted once.
    w.world
        .post("/ecr/replication", json!({"lagSeconds": {SECONDARY: 0}, "failures": [{"region": SECONDARY, "failureCode": "REPLICATION_FAILED"}]}))
        .await;
    push(w.world, &repo, "v2").await;
    let out = w.invoke(json!({"action": "check"})).await;
    assert_eq!(verdict(&out, "ecr"), "not_ready", "{out}");
    let failed = resource(&out, |r| r["status"] == "failed");
    assert!(
        failed["detail"]
            .as_str()
            .unwrap()
            .contains("REPLICATION_FAILED"),
        "{failed}"
    );
    assert_eq!(w.kind_metric("ReplicationFailed", "ecr").await, Some(1.0));
    w.world
        .post("/ecr/replication", json!({"clearFailures": true}))
        .await;
    assert_eq!(
        World::count(&w.alerts().await, "ecr replication over threshold"),
        2
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_and_secrets_lag_follow_the_world_and_alert_once_per_crossing() {
    let _turn = TURN.lock().await;
    let mut w = setup("rm-s3s", |_| {}).await;
    let secret = w.topology.spec.secrets[0].clone();

    let out = w.invoke(json!({"action": "check"})).await;
    assert_eq!(verdict(&out, "s3"), "ready", "{out}");
    assert_eq!(verdict(&out, "secrets"), "ready", "{out}");
    assert_eq!(
        w.kind_metric("ReplicationLagSeconds", "s3").await,
        Some(30.0)
    );

    // S3: latency above 15 minutes, then back.
    s3_metrics(w.world, &w.config, 1_200.0, 5.0, 0.0).await;
    let out = w.tick().await;
    assert_eq!(verdict(&out, "s3"), "not_ready", "{out}");
    assert_eq!(
        w.kind_metric("ReplicationLagSeconds", "s3").await,
        Some(1_200.0)
    );
    assert_eq!(w.kind_metric("ReplicationPending", "s3").await, Some(5.0));
    w.tick().await;
    s3_metrics(w.world, &w.config, 20.0, 0.0, 0.0).await;
    let out = w.tick().await;
    assert_eq!(verdict(&out, "s3"), "ready", "{out}");
    w.assert_one_crossing("s3").await;

    // Secrets: a replica held InProgress ages from first sight past 3 s.
    w.replica(&secret, "InProgress").await;
    let out = w.tick().await;
    assert_eq!(
        verdict(&out, "secrets"),
        "ready",
        "first sight: lag 0 ({out})"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let out = w.tick().await;
    assert_eq!(verdict(&out, "secrets"), "not_ready", "{out}");
    let lag = w
        .kind_metric("ReplicationLagSeconds", "secrets")
        .await
        .unwrap();
    assert!(lag >= 3.0, "lag {lag}");
    assert_eq!(w.ready(SECONDARY).await, Some(0.0));
    w.tick().await;
    w.replica(&secret, "InSync").await;
    let out = w.tick().await;
    assert_eq!(verdict(&out, "secrets"), "ready", "{out}");
    assert_eq!(w.ready(SECONDARY).await, Some(1.0));
    w.assert_one_crossing("secrets").await;

    // A failed replica: not ready with its message.
    w.replica(&secret, "Failed").await;
    let out = w.tick().await;
    assert_eq!(verdict(&out, "secrets"), "not_ready");
    assert_eq!(
        w.kind_metric("ReplicationFailed", "secrets").await,
        Some(1.0)
    );
    w.replica(&secret, "InSync").await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_grow_with_recent_pushes_not_with_thousands_of_old_images() {
    let _turn = TURN.lock().await;
    let mut w = setup("rm-cost", |_| {}).await;
    let repo = w.topology.spec.ecr_repositories[0].clone();
    w.world
        .post(
            "/ecr/replication",
            json!({"lagSeconds": {SECONDARY: 0}, "clearFailures": true}),
        )
        .await;
    w.world
        .post(
            "/ecr/seed",
            json!({"account": SHARED_SERVICES, "region": PRIMARY, "repositoryName": repo, "count": 3000, "pushedAt": "2025-01-01T00:00:00Z", "replicated": true}),
        )
        .await;
    for tag in ["n1", "n2"] {
        push(w.world, &repo, tag).await;
    }
    let since = w.world.get("/calls/counters").await["lastSeq"]
        .as_u64()
        .unwrap_or(0);
    let out = w.tick().await;
    let ecr_resources = out["state"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "ecr")
        .count();
    assert_eq!(ecr_resources, 2, "only the recent images: {out}");
    let count = |op: &'static str| {
        let world = w.world;
        async move {
            world
                .get(&format!("/calls?service=ecr&operation={op}&since={since}"))
                .await["count"]
                .as_u64()
                .unwrap_or(0)
        }
    };
    let status_calls = count("DescribeImageReplicationStatus").await;
    let list_calls = count("DescribeImages").await;
    assert_eq!(
        status_calls, 2,
        "one status call per recent image, none for the 3,000 old ones"
    );
    assert!(
        (1..=4).contains(&list_calls),
        "pages of 1,000 at most: {list_calls}"
    );
    let metric_reads = w
        .world
        .get(&format!(
            "/calls?service=cloudwatch&operation=GetMetricData&account={}&since={since}",
            w.topology.spec.account
        ))
        .await["count"]
        .as_u64();
    let puts = w
        .world
        .get(&format!(
            "/calls?service=cloudwatch&operation=PutMetricData&account={}&since={since}",
            w.topology.spec.account
        ))
        .await["count"]
        .as_u64();
    assert_eq!(
        metric_reads,
        Some(2),
        "one GetMetricData in each region S3 publishes the rule's metrics in (destination: latency, pending; source: failures)"
    );
    assert_eq!(puts, Some(1), "one batched PutMetricData");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_repository_or_secret_is_reported_without_hiding_the_others() {
    let _turn = TURN.lock().await;
    let mut w = setup("rm-part", |c| {
        let repos = c["replication"]["ecr"]["repositories"]
            .as_array_mut()
            .unwrap();
        repos.push(json!("does-not-exist-rm-part"));
        let secrets = c["replication"]["secrets"]["secret_ids"]
            .as_array_mut()
            .unwrap();
        secrets.push(json!("orders/missing-rm-part"));
    })
    .await;
    let out = w.invoke(json!({"action": "check"})).await;
    assert_eq!(out["outcome"], "failed", "{out}");
    let errors = out["errors"].to_string();
    assert!(errors.contains("does-not-exist-rm-part"), "{errors}");
    assert!(errors.contains("orders/missing-rm-part"), "{errors}");
    assert_eq!(verdict(&out, "ecr"), "unknown");
    assert_eq!(verdict(&out, "secrets"), "unknown");
    assert_eq!(
        verdict(&out, "s3"),
        "ready",
        "the other kinds are still read"
    );
    let resources = out["state"]["resources"].as_array().unwrap();
    assert!(resources.iter().any(|r| r["kind"] == "secrets" && r["resource"] == w.topology.spec.secrets[0].as_str()), "{out}");
    assert_eq!(
        w.ready(SECONDARY).await,
        Some(0.0),
        "unknown publishes 0: failover treats it as not ready"
    );
    assert_eq!(
        w.metric("ActionFailed", &[("Function", "replication-monitor")])
            .await,
        Some(1.0)
    );
    assert!(w.alerts().await.is_empty(), "unknown is not a crossing");

    // Refusals: zero AWS calls.
    let account = w.topology.spec.account.clone();
    let before = w
        .world
        .get(&format!("/calls/counters?account={account}"))
        .await["total"]
        .as_u64();
    for bad in [
        json!({"action": "evacuate"}),
        json!({"hello": 1}),
        fixture("cloudwatch-alarm-state-change.json"),
    ] {
        match w.f.invoke(bad.clone()).await.unwrap() {
            testkit::runtime::Reply::Error { error_type, .. } => {
                assert_eq!(error_type, "NonRetryable", "{bad}")
            }
            other => panic!("{bad} accepted: {other:?}"),
        }
    }
    assert_eq!(
        w.world
            .get(&format!("/calls/counters?account={account}"))
            .await["total"]
            .as_u64(),
        before
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pushed_image_deleted_before_the_monitor_looks_is_gone_not_a_blocker() {
    let _turn = TURN.lock().await;
    let mut w = setup("rm-gone", |_| {}).await;
    let repo = w.topology.spec.ecr_repositories[0].clone();
    let digest = push(w.world, &repo, "gone-1").await;

    // Deleted in the shared-services registry before the PUSH event reaches the monitor.
    let ecr = aws_sdk_ecr::Client::new(&w.world.sdk_config(SHARED_SERVICES, PRIMARY));
    let deleted = ecr
        .batch_delete_image()
        .registry_id(SHARED_SERVICES)
        .repository_name(&repo)
        .image_ids(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_digest(&digest)
                .build(),
        )
        .send()
        .await
        .expect("BatchDeleteImage");
    assert_eq!(deleted.image_ids().len(), 1, "{deleted:?}");
    assert!(deleted.failures().is_empty(), "{deleted:?}");

    let mut event = fixture("ecr-image-action.json");
    event["detail"]["repository-name"] = json!(repo);
    event["detail"]["image-digest"] = json!(digest);
    event["detail"]["image-tag"] = json!("gone-1");
    event["time"] = json!(chrono::Utc::now().to_rfc3339());
    let out = w.invoke(event).await;
    assert_eq!(out["trigger"], "ecr_push", "{out}");
    assert_eq!(out["outcome"], "noop", "{out}");
    assert_eq!(verdict(&out, "ecr"), "ready", "{out}");
    assert_eq!(
        out["state"]["regions"][SECONDARY]["verdict"], "ready",
        "{out}"
    );
    let short = &digest[..19];
    assert_eq!(
        out["state"]["gone"],
        json!([format!("{repo}:gone-1@{short}")]),
        "{out}"
    );
    assert!(
        out["reason"].as_str().unwrap().contains("gone"),
        "the record says the image is gone: {out}"
    );
    assert!(
        out["state"]["unreadable"]
            .as_array()
            .is_some_and(|e| e.is_empty()),
        "an image that no longer exists is not unreadable: {out}"
    );
    assert!(
        !out["state"]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["resource"].as_str().unwrap_or_default().contains(short)),
        "not counted: {out}"
    );
    assert_eq!(w.kind_metric("ReplicationPending", "ecr").await, Some(0.0));
    assert_eq!(
        w.ready(SECONDARY).await,
        Some(1.0),
        "a deleted image does not block evacuation towards {SECONDARY}"
    );
    assert!(w.alerts().await.is_empty(), "no alert");
    w.stop().await;
}
