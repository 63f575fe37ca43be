//! Creates the seed's world in the local AWS: a public hosted zone with latency records
//! for both regions, endpoint health checks, the per-region gate checks, the control
//! plane's private zone (in a VPC of its own) with the routing-state record, alert topics, ECR repositories (replication between the
//! regions is switched on by `replicate_ecr`, for the worlds that need it),
//! replicated secrets, workload functions with alias `live`, and the region
//! health alarms, across the shared-services and workload accounts. Every name
//! carries a suffix so tests can build independent worlds side by side.

use crate::{LocalAws, PRIMARY, SECONDARY, SHARED_SERVICES};
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, HealthCheckConfig, HealthCheckType, ResourceRecord,
    ResourceRecordSet, ResourceRecordSetRegion, RrType,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const REGIONS: [&str; 2] = [PRIMARY, SECONDARY];

#[derive(Debug, Clone)]
pub struct Spec {
    /// Distinguishes this world's names from others in the same local AWS.
    pub suffix: String,
    /// The workload account (dev or prod): one of its own per world, as each
    /// deployment has in AWS, so AWS's per-account quotas (on by default in the local
    /// world) are not shared by worlds built side by side.
    pub account: String,
    pub environment: &'static str,
    /// Latency records per region (the gate covers all of them with one update).
    pub records_per_region: usize,
    pub workload_functions: Vec<String>,
    pub ecr_repositories: Vec<String>,
    pub secrets: Vec<String>,
    /// The data-plane path (`failover.data_plane`): the local-store tables,
    /// the probe and data-plane-gate alarms in each observer region, and a third,
    /// CLOUDWATCH_METRIC child of every gate. Off by default.
    pub data_plane: bool,
}

impl Spec {
    pub fn new(suffix: &str) -> Self {
        Self {
            suffix: suffix.to_string(),
            account: workload_account(suffix),
            environment: "prod",
            records_per_region: 1,
            workload_functions: vec![format!("orders-api-{suffix}")],
            ecr_repositories: vec![format!("orders-api-{suffix}")],
            secrets: vec![format!("orders/db-{suffix}")],
            data_plane: false,
        }
    }
}

/// A 12-digit workload account derived from a world's suffix: stable for a suffix,
/// distinct from the seed's fixed accounts (shared-services, dev, prod).
pub fn workload_account(suffix: &str) -> String {
    crate::account_for('9', suffix)
}

#[derive(Debug, Clone)]
pub struct Topology {
    pub spec: Spec,
    /// The zone of the routing state: the control plane's private hosted zone
    /// (`failover.state_zone_id`), associated with its own VPC.
    pub zone_id: String,
    /// The service's public hosted zone: its latency records and nothing of the
    /// control plane's (`failover.hosted_zone_id`).
    pub public_zone_id: String,
    pub domain: String,
    /// The routing state's TXT record, in the private zone.
    pub state_record: String,
    /// Per region: the endpoint health checks (ALB, API Gateway) and their FQDNs.
    pub endpoints: BTreeMap<String, Vec<(String, String)>>,
    pub gates: BTreeMap<String, String>,
    pub topics: BTreeMap<String, String>,
    /// Region-health alarm name -> the region it watches; every alarm lives in
    /// us-east-1 ([`Topology::alarm_arn`]).
    pub alarms: BTreeMap<String, String>,
    /// What [`Spec::data_plane`] added; None without it.
    pub data_plane: Option<DataPlane>,
}

/// The data-plane path's resources (infra/modules/data-plane), per watched region R
/// and its observer O (with two regions: the peer).
#[derive(Debug, Clone)]
pub struct DataPlane {
    /// The local store's DynamoDB table, the same name in both regions.
    pub table: String,
    /// R -> O.
    pub observers: BTreeMap<String, String>,
    /// R -> `<service>-probe-<R>`, in O, on `EndpointProbeHealthy{Region=R}`.
    pub probe_alarms: BTreeMap<String, String>,
    /// R -> `<service>-data-plane-gate-<R>`, in O, on `DataPlaneGateClosed{Region=R}`.
    pub gate_alarms: BTreeMap<String, String>,
    /// R -> the CLOUDWATCH_METRIC health check following R's gate alarm: the third
    /// child of R's gate.
    pub gate_children: BTreeMap<String, String>,
    /// R -> the URLs its observer probes: R's endpoints as the local world serves them.
    pub probes: BTreeMap<String, Vec<String>>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Topology {
    pub async fn create(world: &LocalAws, spec: Spec) -> Result<Self, BoxError> {
        let s = &spec.suffix;
        let domain = format!("orders-{s}.example.com");
        let r53 = aws_sdk_route53::Client::new(&world.sdk_config(&spec.account, SECONDARY));
        let zone = r53
            .create_hosted_zone()
            .name(&domain)
            .caller_reference(format!(
                "zone-{s}-{}",
                chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
            ))
            .send()
            .await?;
        let public_zone_id = zone
            .hosted_zone()
            .map(|z| z.id().trim_start_matches("/hostedzone/").to_string())
            .ok_or("no zone id")?;
        let state_zone = format!("controlplane.{domain}");
        let zone_id = private_zone(world, &r53, &spec.account, &state_zone, s).await?;

        let mut data_plane = if spec.data_plane {
            Some(create_data_plane(world, &spec, &domain).await?)
        } else {
            None
        };
        let mut endpoints = BTreeMap::new();
        let mut gates = BTreeMap::new();
        let mut changes = Vec::new();
        for region in REGIONS {
            let mut children = Vec::new();
            for kind in ["alb", "api"] {
                let fqdn = format!("{kind}.{region}.{domain}");
                let id = create_check(
                    &r53,
                    &format!("{kind}-{region}-{s}"),
                    HealthCheckConfig::builder()
                        .r#type(HealthCheckType::Https)
                        .fully_qualified_domain_name(&fqdn)
                        .port(443)
                        .resource_path("/health")
                        .request_interval(10)
                        .failure_threshold(3)
                        .build()?,
                )
                .await?;
                children.push((id, fqdn));
            }
            let mut child_ids: Vec<String> = children.iter().map(|(id, _)| id.clone()).collect();
            if let Some(dp) = data_plane.as_mut() {
                // The gate's third child: a CLOUDWATCH_METRIC check following the
                // data-plane gate alarm in the observer region. LastKnownStatus: a dark
                // observer neither opens nor closes the region.
                let observer = &dp.observers[region];
                let id = create_check(
                    &r53,
                    &format!("data-plane-gate-{region}-{s}"),
                    HealthCheckConfig::builder()
                        .r#type(HealthCheckType::CloudwatchMetric)
                        .alarm_identifier(
                            aws_sdk_route53::types::AlarmIdentifier::builder()
                                .region(aws_sdk_route53::types::CloudWatchRegion::from(
                                    observer.as_str(),
                                ))
                                .name(&dp.gate_alarms[region])
                                .build()?,
                        )
                        .insufficient_data_health_status(
                            aws_sdk_route53::types::InsufficientDataHealthStatus::LastKnownStatus,
                        )
                        .build()?,
                )
                .await?;
                dp.gate_children.insert(region.to_string(), id.clone());
                child_ids.push(id);
            }
            // All children healthy: open (failover closes it with children + 1).
            let gate = create_check(
                &r53,
                &format!("gate-{region}-{s}"),
                HealthCheckConfig::builder()
                    .r#type(HealthCheckType::Calculated)
                    .health_threshold(child_ids.len() as i32)
                    .set_child_health_checks(Some(child_ids))
                    .build()?,
            )
            .await?;
            for i in 0..spec.records_per_region {
                let name = if i == 0 {
                    format!("api.{domain}")
                } else {
                    format!("api{i}.{domain}")
                };
                let set = ResourceRecordSet::builder()
                    .name(name)
                    .r#type(RrType::Cname)
                    .set_identifier(region)
                    .region(ResourceRecordSetRegion::from(region))
                    .ttl(60)
                    .health_check_id(&gate)
                    .resource_records(
                        ResourceRecord::builder()
                            .value(format!("alb.{region}.{domain}"))
                            .build()?,
                    )
                    .build()?;
                changes.push(
                    Change::builder()
                        .action(ChangeAction::Create)
                        .resource_record_set(set)
                        .build()?,
                );
            }
            endpoints.insert(region.to_string(), children);
            gates.insert(region.to_string(), gate);
        }
        for chunk in changes.chunks(500) {
            r53.change_resource_record_sets()
                .hosted_zone_id(&public_zone_id)
                .change_batch(
                    ChangeBatch::builder()
                        .set_changes(Some(chunk.to_vec()))
                        .build()?,
                )
                .send()
                .await?;
        }
        let state_record = format!("_state.{state_zone}");
        let state_changes = [Change::builder()
            .action(ChangeAction::Create)
            .resource_record_set(
                ResourceRecordSet::builder()
                    .name(&state_record)
                    .r#type(RrType::Txt)
                    .ttl(60)
                    .resource_records(
                        ResourceRecord::builder()
                            .value("\"controlplane state placeholder\"")
                            .build()?,
                    )
                    .build()?,
            )
            .build()?];
        r53.change_resource_record_sets()
            .hosted_zone_id(&zone_id)
            .change_batch(
                ChangeBatch::builder()
                    .set_changes(Some(state_changes.to_vec()))
                    .build()?,
            )
            .send()
            .await?;

        let mut topics = BTreeMap::new();
        let mut alarms = BTreeMap::new();
        for region in REGIONS {
            let config = world.sdk_config(&spec.account, region);
            let sns = aws_sdk_sns::Client::new(&config);
            let topic = sns
                .create_topic()
                .name(format!("alerts-{s}-{region}"))
                .send()
                .await?;
            topics.insert(
                region.to_string(),
                topic.topic_arn().unwrap_or_default().to_string(),
            );

            let lambda = aws_sdk_lambda::Client::new(&config);
            for function in &spec.workload_functions {
                create_function_with_alias(world, &lambda, &spec.account, function).await?;
            }

            // Route 53 metrics live in us-east-1: the region health alarms do too.
            let cw = aws_sdk_cloudwatch::Client::new(&world.sdk_config(&spec.account, SECONDARY));
            let alarm = format!("orders-health-{region}-{s}");
            let [(alb, _), (api, _)] = &endpoints[region][..] else {
                return Err(
                    format!("{alarm}: infra's alarm covers two endpoints (alb, api)").into(),
                );
            };
            region_health_alarm(&cw, &alarm, alb, api).await?;
            alarms.insert(alarm, region.to_string());
        }

        // ECR in shared-services: the source repositories in the primary region
        // (`replicate_ecr` replicates them to the secondary).
        // The monitor reads ECR through a role in shared-services, as deployed.
        world.post("/iam/roles", json!({"account": SHARED_SERVICES, "name": format!("ecr-read-{s}"), "service": "lambda.amazonaws.com"})).await;
        let ecr = aws_sdk_ecr::Client::new(&world.sdk_config(SHARED_SERVICES, PRIMARY));
        for repo in &spec.ecr_repositories {
            ecr.create_repository().repository_name(repo).send().await?;
        }
        let secrets =
            aws_sdk_secretsmanager::Client::new(&world.sdk_config(&spec.account, PRIMARY));
        for secret in &spec.secrets {
            secrets
                .create_secret()
                .name(secret)
                .secret_string("local-only-not-a-secret")
                .add_replica_regions(
                    aws_sdk_secretsmanager::types::ReplicaRegionType::builder()
                        .region(SECONDARY)
                        .build(),
                )
                .send()
                .await?;
        }

        Ok(Self {
            spec,
            zone_id,
            public_zone_id,
            domain,
            state_record,
            endpoints,
            gates,
            topics,
            alarms,
            data_plane,
        })
    }

    /// Every record of the public zone, as `name type value` lines: what anyone can
    /// read with a DNS query.
    pub async fn public_records(&self, world: &LocalAws) -> Vec<String> {
        let r53 = aws_sdk_route53::Client::new(&world.sdk_config(&self.spec.account, SECONDARY));
        let mut lines = Vec::new();
        let mut next: Option<(String, RrType)> = None;
        loop {
            let page = r53
                .list_resource_record_sets()
                .hosted_zone_id(&self.public_zone_id)
                .set_start_record_name(next.as_ref().map(|(name, _)| name.clone()))
                .set_start_record_type(next.as_ref().map(|(_, t)| t.clone()))
                .send()
                .await
                .expect("public zone readable");
            for set in page.resource_record_sets() {
                for record in set.resource_records() {
                    lines.push(format!(
                        "{} {} {}",
                        set.name(),
                        set.r#type(),
                        record.value()
                    ));
                }
            }
            match (
                page.is_truncated(),
                page.next_record_name(),
                page.next_record_type(),
            ) {
                (true, Some(name), Some(t)) => next = Some((name.to_string(), t.clone())),
                _ => break,
            }
        }
        lines
    }

    /// Marks every endpoint of a region up or down (the data plane's view).
    /// The `HealthThreshold` of `region`'s gate: above its two endpoint children, closed.
    pub async fn gate_threshold(&self, world: &LocalAws, region: &str) -> i32 {
        let r53 = aws_sdk_route53::Client::new(&world.sdk_config(&self.spec.account, SECONDARY));
        r53.get_health_check()
            .health_check_id(&self.gates[region])
            .send()
            .await
            .expect("gate")
            .health_check()
            .and_then(|h| h.health_check_config())
            .and_then(|c| c.health_threshold())
            .expect("threshold")
    }

    pub async fn set_region_endpoints(&self, world: &LocalAws, region: &str, healthy: bool) {
        for (_, fqdn) in &self.endpoints[region] {
            world
                .post(
                    "/route53/endpoints",
                    json!({"endpoint": fqdn, "healthy": healthy}),
                )
                .await;
        }
    }

    /// Has the local CloudWatch evaluate this topology's region-health alarms now (as
    /// AWS does every period); returns the state changes.
    pub async fn evaluate_alarms(&self, world: &LocalAws) -> Vec<Value> {
        let names: Vec<&String> = self.alarms.keys().collect();
        let out = world
            .post(
                "/cloudwatch/evaluate-alarms",
                json!({"account": self.spec.account, "region": crate::SECONDARY, "alarmNames": names}),
            )
            .await;
        out["changes"].as_array().cloned().unwrap_or_default()
    }

    /// The operator role of this world (`failover.operator_roles`).
    pub fn operator_role(&self) -> String {
        format!(
            "arn:aws:iam::{}:role/operator-{}",
            self.spec.account, self.spec.suffix
        )
    }

    /// A session of the operator role: the caller whose routing actions failover takes
    /// through its function URL.
    pub fn operator(&self) -> String {
        format!(
            "arn:aws:sts::{}:assumed-role/operator-{}/sre",
            self.spec.account, self.spec.suffix
        )
    }

    /// `service_name` in this world's configuration.
    pub fn service_name(&self) -> String {
        format!("orders-{}", self.spec.suffix)
    }

    /// A control-plane function's name as Terraform names it:
    /// `<service_name>-<function>-<region>`.
    pub fn function_name(&self, function: &str, region: &str) -> String {
        format!("{}-{function}-{region}", self.service_name())
    }

    /// The regions whose latency records the data plane answers with (from
    /// eu-central-1), sorted.
    pub async fn answering_regions(&self, world: &LocalAws) -> Vec<String> {
        let answer = world
            .get(&format!(
                "/route53/resolve?zone={}&name=api.{}&type=CNAME&region={PRIMARY}",
                self.public_zone_id, self.domain
            ))
            .await;
        let mut regions: Vec<String> = answer["candidates"]
            .as_array()
            .map(|records| {
                records
                    .iter()
                    .filter_map(|r| {
                        r["region"]
                            .as_str()
                            .or(r["setIdentifier"].as_str())
                            .map(str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_default();
        regions.sort();
        regions
    }

    /// The ARN of this world's alarm `name`: in the workload account, in us-east-1
    /// where the topology creates the region-health alarms.
    pub fn alarm_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:cloudwatch:{SECONDARY}:{}:alarm:{name}",
            self.spec.account
        )
    }

    /// The latest value (over the last ten minutes) of the control plane's metric `name`
    /// with `dimensions` and `stat`, in this world's namespace (`ControlPlane-<suffix>`),
    /// read in the primary region.
    pub async fn latest_metric(
        &self,
        world: &LocalAws,
        name: &str,
        dimensions: &[(&str, &str)],
        stat: &str,
    ) -> shared::Result<Option<f64>> {
        use shared::aws::metric_data::{MetricData, MetricQuery, MetricReader};
        let cw = MetricData::new(&world.sdk_config(&self.spec.account, PRIMARY));
        let query = MetricQuery {
            id: "m".into(),
            namespace: format!("ControlPlane-{}", self.spec.suffix),
            metric_name: name.into(),
            dimensions: dimensions
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            stat: stat.into(),
            period_secs: 1,
        };
        let now = chrono::Utc::now();
        let series = cw
            .read(
                &[query],
                now - chrono::Duration::minutes(10),
                now + chrono::Duration::minutes(1),
            )
            .await?;
        Ok(series.first().and_then(|s| s.latest()))
    }

    /// The control-plane configuration for this world.
    pub fn config(&self) -> Value {
        let s = &self.spec.suffix;
        let account = &self.spec.account;
        let by_region = |f: &dyn Fn(&str) -> String| -> Value {
            REGIONS
                .iter()
                .map(|r| (r.to_string(), Value::String(f(r))))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let mut region_alarms: BTreeMap<String, &String> = self
            .alarms
            .iter()
            .map(|(name, region)| (self.alarm_arn(name), region))
            .collect();
        if let Some(dp) = &self.data_plane {
            for (region, name) in &dp.probe_alarms {
                region_alarms.insert(self.alarm_arn_in(&dp.observers[region], name), region);
            }
        }
        let mut config = json!({
            "environment": self.spec.environment,
            "service_name": self.service_name(),
            "regions": REGIONS,
            "allowed_accounts": [SHARED_SERVICES, account],
            "alerts_topic_arns": by_region(&|r| self.topics[r].clone()),
            "failover": {
                "hosted_zone_id": self.public_zone_id,
                "state_zone_id": self.zone_id,
                "operator_roles": [self.operator_role()],
                "state_record_name": self.state_record,
                "gate_health_checks": by_region(&|r| self.gates[r].clone()),
                "region_alarms": region_alarms,
                "dwell": "0s",
                "readiness": { "require_replication_ready": false },
                "drill": {
                    "surge_wait": "0s",
                    "scheduler_role_arns": by_region(&|r| format!("arn:aws:iam::{account}:role/scheduler-{s}-{r}")),
                }
            },
            "replication": {
                "alert_state_parameter": format!("/controlplane/{s}/replication-alert-state"),
                "ecr": {
                    "registry_id": SHARED_SERVICES,
                    "source_region": PRIMARY,
                    "repositories": self.spec.ecr_repositories,
                    "destination_regions": [SECONDARY],
                    "role": {
                        "role_arn": format!("arn:aws:iam::{SHARED_SERVICES}:role/ecr-read-{s}"),
                        "external_id": format!("controlplane-{s}"),
                    },
                },
                "secrets": { "source_region": PRIMARY, "secret_ids": self.spec.secrets },
            },
            "concurrency": {
                "targets": self.spec.workload_functions.iter().map(|f| json!({"function": f})).collect::<Vec<_>>(),
                "state_parameter": format!("/controlplane/{s}/concurrency-state"),
            }
        });
        if let Some(dp) = &self.data_plane {
            // The namespace the data-plane alarms watch (failover publishes there).
            config["metrics_namespace"] = json!(self.metrics_namespace());
            config["failover"]["data_plane"] = json!({
                "table": dp.table,
                "observers": dp.observers,
                "probes": dp.probes,
                "probe_timeout": "1s",
            });
        }
        config
    }

    /// The metrics namespace of this world's data-plane alarms: `ControlPlane-<suffix>`,
    /// as the tests and the demo configure `metrics_namespace`.
    pub fn metrics_namespace(&self) -> String {
        metrics_namespace(&self.spec.suffix)
    }

    /// The ARN of this world's alarm `name` in `region`.
    pub fn alarm_arn_in(&self, region: &str, name: &str) -> String {
        format!(
            "arn:aws:cloudwatch:{region}:{}:alarm:{name}",
            self.spec.account
        )
    }

    /// The data-plane resources; panics if the world was built without them.
    pub fn dp(&self) -> &DataPlane {
        self.data_plane
            .as_ref()
            .expect("this world was built without Spec::data_plane")
    }

    /// Has the local CloudWatch evaluate the data-plane alarms (probe and data-plane
    /// gate) in each region now; a dark region evaluates nothing. Route 53's health-check
    /// metrics are published first (as for [`Topology::evaluate_alarms`]). Returns the
    /// state changes.
    pub async fn evaluate_data_plane_alarms(&self, world: &LocalAws) -> Vec<Value> {
        let dp = self.dp();
        let mut changes = Vec::new();
        for region in REGIONS {
            let names: Vec<&String> = dp
                .probe_alarms
                .iter()
                .chain(&dp.gate_alarms)
                .filter(|(watched, _)| dp.observers[watched.as_str()] == region)
                .map(|(_, name)| name)
                .collect();
            let out = world
                .post(
                    "/cloudwatch/evaluate-alarms",
                    json!({"account": self.spec.account, "region": region, "alarmNames": names}),
                )
                .await;
            changes.extend(out["changes"].as_array().cloned().unwrap_or_default());
        }
        changes
    }

    /// The state of this world's alarm `name` in `region` as the local CloudWatch has it
    /// (admin view: no API call, so it reads a dark region's too).
    pub async fn alarm_state(&self, world: &LocalAws, region: &str, name: &str) -> Option<String> {
        let checks = world.get("/route53/health-checks").await;
        let from_check = checks["healthChecks"].as_array().and_then(|all| {
            all.iter().find_map(|c| {
                (c["alarm"]["Name"] == name && c["alarm"]["Region"] == region)
                    .then(|| c["alarm"]["state"].as_str().map(str::to_string))
                    .flatten()
            })
        });
        if from_check.is_some() {
            return from_check;
        }
        let cw = aws_sdk_cloudwatch::Client::new(&world.sdk_config(&self.spec.account, region));
        let out = cw.describe_alarms().alarm_names(name).send().await.ok()?;
        out.metric_alarms()
            .first()
            .and_then(|a| a.state_value())
            .map(|s| s.as_str().to_string())
    }

    /// Whether the health check `id` is healthy as Route 53's checkers judge it now
    /// (the local world's admin view: Route 53's data plane).
    pub async fn check_healthy(&self, world: &LocalAws, id: &str) -> Option<bool> {
        let checks = world.get("/route53/health-checks").await;
        checks["healthChecks"]
            .as_array()?
            .iter()
            .find(|c| c["id"] == id)
            .and_then(|c| c["healthy"].as_bool())
    }
}

/// `ControlPlane-<suffix>`: the metrics namespace a world's configuration uses.
pub fn metrics_namespace(suffix: &str) -> String {
    format!("ControlPlane-{suffix}")
}

/// The data-plane resources of [`Spec::data_plane`], as infra/modules/data-plane creates
/// them, but for the alarm periods: 1 of 1 here (Terraform's probe alarm is 3 of 3 for
/// flap damping, and CloudWatch periods are real minutes in the local world too), so a
/// test need not wait minutes. The gate children are added by [`Topology::create`].
async fn create_data_plane(
    world: &LocalAws,
    spec: &Spec,
    domain: &str,
) -> Result<DataPlane, BoxError> {
    use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic};
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let s = &spec.suffix;
    let service = format!("orders-{s}");
    let table = format!("{service}-controlplane-local");
    let namespace = metrics_namespace(s);
    let mut dp = DataPlane {
        table: table.clone(),
        observers: BTreeMap::new(),
        probe_alarms: BTreeMap::new(),
        gate_alarms: BTreeMap::new(),
        gate_children: BTreeMap::new(),
        probes: BTreeMap::new(),
    };
    for region in REGIONS {
        let config = world.sdk_config(&spec.account, region);
        aws_sdk_dynamodb::Client::new(&config)
            .create_table()
            .table_name(&table)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("id")
                    .attribute_type(ScalarAttributeType::S)
                    .build()?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("id")
                    .key_type(KeyType::Hash)
                    .build()?,
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await?;
    }
    for region in REGIONS {
        let observer = REGIONS
            .iter()
            .find(|r| **r != region)
            .expect("two regions")
            .to_string();
        let cw = aws_sdk_cloudwatch::Client::new(&world.sdk_config(&spec.account, &observer));
        let dimension = Dimension::builder().name("Region").value(region).build();
        let gate = format!("{service}-data-plane-gate-{region}");
        cw.put_metric_alarm()
            .alarm_name(&gate)
            .namespace(&namespace)
            .metric_name("DataPlaneGateClosed")
            .dimensions(dimension.clone())
            .statistic(Statistic::Maximum)
            .period(60)
            .evaluation_periods(1)
            .datapoints_to_alarm(1)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
            .treat_missing_data("ignore")
            .send()
            .await?;
        // Terraform: 3 of 3 (flap damping); 1 of 1 here, as CloudWatch periods are real
        // minutes in the local world and a test cannot wait three of them.
        let probe = format!("{service}-probe-{region}");
        cw.put_metric_alarm()
            .alarm_name(&probe)
            .namespace(&namespace)
            .metric_name("EndpointProbeHealthy")
            .dimensions(dimension)
            .statistic(Statistic::Minimum)
            .period(60)
            .evaluation_periods(1)
            .datapoints_to_alarm(1)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::LessThanThreshold)
            .treat_missing_data("missing")
            .send()
            .await?;
        // The region's endpoints as the topology's endpoint health checks name them, so
        // the outage switch's `endpoints` darken both.
        let urls = ["alb", "api"]
            .iter()
            .map(|kind| {
                format!(
                    "{}/_localaws/service/{kind}.{region}.{domain}/health",
                    world.url
                )
            })
            .collect();
        dp.probes.insert(region.to_string(), urls);
        dp.gate_alarms.insert(region.to_string(), gate);
        dp.probe_alarms.insert(region.to_string(), probe);
        dp.observers.insert(region.to_string(), observer);
    }
    Ok(dp)
}

/// The region-health alarm exactly as infra/modules/global-routing creates it
/// (`aws_cloudwatch_metric_alarm.region_health`): ALARM when the minimum of the
/// region's endpoint checks' `HealthCheckStatus` (Route 53 publishes it in us-east-1)
/// is below 1; missing data is not breaching. One evaluation period here (infra's
/// `region_health_evaluation_periods`, 3 by default), so a test need not wait minutes.
pub async fn region_health_alarm(
    cw: &aws_sdk_cloudwatch::Client,
    name: &str,
    alb: &str,
    api: &str,
) -> Result<(), BoxError> {
    use aws_sdk_cloudwatch::types::{
        ComparisonOperator, Dimension, Metric, MetricDataQuery, MetricStat,
    };
    let stat = |id: &str, check: &str| -> MetricDataQuery {
        MetricDataQuery::builder()
            .id(id)
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace("AWS/Route53")
                            .metric_name("HealthCheckStatus")
                            .dimensions(
                                Dimension::builder()
                                    .name("HealthCheckId")
                                    .value(check)
                                    .build(),
                            )
                            .build(),
                    )
                    .period(60)
                    .stat("Minimum")
                    .build(),
            )
            .return_data(false)
            .build()
    };
    cw.put_metric_alarm()
        .alarm_name(name)
        .comparison_operator(ComparisonOperator::LessThanThreshold)
        .threshold(1.0)
        .evaluation_periods(1)
        .treat_missing_data("notBreaching")
        .metrics(
            MetricDataQuery::builder()
                .id("healthy")
                .expression("MIN([alb, api])")
                .label("All endpoints healthy")
                .return_data(true)
                .build(),
        )
        .metrics(stat("alb", alb))
        .metrics(stat("api", api))
        .send()
        .await?;
    Ok(())
}

async fn create_check(
    r53: &aws_sdk_route53::Client,
    reference: &str,
    config: HealthCheckConfig,
) -> Result<String, BoxError> {
    let out = r53
        .create_health_check()
        .caller_reference(reference)
        .health_check_config(config)
        .send()
        .await?;
    Ok(out
        .health_check()
        .map(|h| h.id().to_string())
        .ok_or("no health check id")?)
}

/// A minimal zip holding one file, enough for CreateFunction.
fn tiny_zip() -> Vec<u8> {
    // Stored (no compression) zip with a single empty file named "bootstrap".
    let name = b"bootstrap";
    // What the local and the central header share: version needed (2.0), then flags,
    // method, time, date, CRC-32 and both sizes (all zero for an empty stored file),
    // the name's length and no extra field.
    let file = [
        &20u16.to_le_bytes()[..],
        &[0; 20],
        &(name.len() as u16).to_le_bytes(),
        &[0; 2],
    ]
    .concat();
    let local = [&0x04034b50u32.to_le_bytes()[..], &file, name].concat();
    // Version made by, the shared fields, then no comment, disk 0, no attributes, and
    // the local header at offset 0.
    let central = [
        &0x02014b50u32.to_le_bytes()[..],
        &20u16.to_le_bytes(),
        &file,
        &[0; 14],
        name,
    ]
    .concat();
    let end = [
        &0x06054b50u32.to_le_bytes()[..],
        &[0; 4],
        &1u16.to_le_bytes(),
        &1u16.to_le_bytes(),
        &(central.len() as u32).to_le_bytes(),
        &(local.len() as u32).to_le_bytes(),
        &[0; 2],
    ]
    .concat();
    [local, central, end].concat()
}

/// A workload function with a published version and alias `live`.
pub async fn create_function_with_alias(
    world: &LocalAws,
    lambda: &aws_sdk_lambda::Client,
    account: &str,
    name: &str,
) -> Result<(), BoxError> {
    let role = world
        .post(
            "/iam/roles",
            json!({"account": account, "name": format!("lambda-{name}")}),
        )
        .await;
    lambda
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
        .handler("bootstrap")
        .role(role["arn"].as_str().unwrap_or_default())
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_smithy_types::Blob::new(tiny_zip()))
                .build(),
        )
        .publish(true)
        .send()
        .await?;
    lambda
        .create_alias()
        .function_name(name)
        .name("live")
        .function_version("1")
        .send()
        .await?;
    Ok(())
}

/// The shared-services registry replicates the primary's repositories to the secondary.
pub async fn replicate_ecr(world: &LocalAws) -> Result<(), String> {
    use aws_sdk_ecr::types::{ReplicationConfiguration, ReplicationDestination, ReplicationRule};
    let ecr = aws_sdk_ecr::Client::new(&world.sdk_config(SHARED_SERVICES, PRIMARY));
    let destination = ReplicationDestination::builder()
        .region(SECONDARY)
        .registry_id(SHARED_SERVICES)
        .build()
        .map_err(|e| e.to_string())?;
    let rule = ReplicationRule::builder()
        .destinations(destination)
        .build()
        .map_err(|e| e.to_string())?;
    let configuration = ReplicationConfiguration::builder()
        .rules(rule)
        .build()
        .map_err(|e| e.to_string())?;
    ecr.put_replication_configuration()
        .replication_configuration(configuration)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("PutReplicationConfiguration: {e:?}"))
}

/// Pushes a new, unique image (one unique layer: moto digests the layers) to `repo` in shared-services' primary region; returns its digest.
pub async fn push_image(world: &LocalAws, repo: &str, tag: &str) -> Result<String, String> {
    let ecr = aws_sdk_ecr::Client::new(&world.sdk_config(SHARED_SERVICES, PRIMARY));
    let unique = format!(
        "{:064x}",
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    let layer = json!({"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 100, "digest": format!("sha256:{unique}")});
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023, "digest": format!("sha256:{unique}")},
        "layers": [layer],
    });
    let out = ecr
        .put_image()
        .repository_name(repo)
        .image_tag(tag)
        .image_manifest(manifest.to_string())
        .send()
        .await
        .map_err(|e| format!("PutImage: {e:?}"))?;
    out.image()
        .and_then(|i| i.image_id())
        .and_then(|i| i.image_digest())
        .map(str::to_string)
        .ok_or_else(|| "PutImage answered no digest".to_string())
}

/// The control plane's private hosted zone `name`, associated with a VPC of its own in
/// us-east-1, as Terraform creates it: records in it answer only inside that VPC.
/// <https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/hosted-zones-private.html>
async fn private_zone(
    world: &LocalAws,
    r53: &aws_sdk_route53::Client,
    account: &str,
    name: &str,
    suffix: &str,
) -> Result<String, BoxError> {
    let access_key = crate::localaws::access_key(account);
    let body = "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.42.0.0%2F24";
    let (status, answer) = crate::signed::post(
        &format!("{}/", world.url),
        "application/x-www-form-urlencoded; charset=utf-8",
        body.as_bytes(),
        &crate::signed::Signer {
            service: "ec2",
            region: SECONDARY,
            access_key: &access_key,
            secret_key: crate::localaws::SECRET_KEY,
        },
    )
    .await?;
    let answer = String::from_utf8_lossy(&answer);
    let vpc_id = answer
        .split("<vpcId>")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .filter(|_| status == 200)
        .ok_or_else(|| format!("CreateVpc answered {status}: {answer}"))?;
    let zone = r53
        .create_hosted_zone()
        .name(name)
        .caller_reference(format!(
            "state-{suffix}-{}",
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ))
        .vpc(
            aws_sdk_route53::types::Vpc::builder()
                .vpc_id(vpc_id)
                .vpc_region(aws_sdk_route53::types::VpcRegion::from(SECONDARY))
                .build(),
        )
        .hosted_zone_config(
            aws_sdk_route53::types::HostedZoneConfig::builder()
                .private_zone(true)
                .comment("control-plane routing state")
                .build(),
        )
        .send()
        .await?;
    Ok(zone
        .hosted_zone()
        .map(|z| z.id().trim_start_matches("/hostedzone/").to_string())
        .ok_or("no zone id")?)
}
