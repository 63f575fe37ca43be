//! What is there now: the targets (configured, then discovered by tag), the routing
//! state, the account's unreserved concurrency, each alias's config and its
//! utilisation. Reads only; what cannot be read is noted in the record, and the
//! plan works around it.

use crate::decide::{Observed, Utilization};
use crate::pace::{bounded, Pacer};
use crate::World;
use chrono::{DateTime, Utc};
use shared::aws::metric_data::MetricQuery;
use shared::config::Target;
use shared::{Config, DecisionRecord, Region};

/// Configured targets in this region, then those discovered by tag.
pub async fn targets(
    config: &Config,
    home: &Region,
    world: &impl World,
    record: &mut DecisionRecord,
) -> Vec<Target> {
    let c = &config.concurrency;
    let mut out: Vec<Target> = config.targets_in(home).cloned().collect();
    if let Some(d) = &c.discovery {
        match world
            .functions_tagged(&d.tag_key, d.tag_value.as_deref())
            .await
        {
            Ok(names) => {
                for function in names {
                    if !out
                        .iter()
                        .any(|t| t.function == function && t.alias == c.alias)
                    {
                        out.push(Target {
                            function,
                            alias: c.alias.clone(),
                            regions: vec![home.clone()],
                            baseline: c.baseline,
                            min: c.min,
                            max: c.max,
                            surge: None,
                        });
                    }
                }
            }
            Err(e) => record
                .errors
                .push(format!("discovery by tag {}: {e}", d.tag_key)),
        }
    }
    out
}

/// Reads what every target's level depends on (no writes).
pub async fn observe(
    targets: &[Target],
    config: &Config,
    home: &Region,
    world: &impl World,
    pacer: &Pacer,
    now: DateTime<Utc>,
    record: &mut DecisionRecord,
) -> Observed {
    let surge = surge(config, home, world, record).await;
    let unreserved = match pacer.call(|| world.unreserved_concurrency()).await {
        Ok(n) => Some(n),
        Err(e) => {
            record.errors.push(format!(
                "account settings: {e} (no headroom clamp this run)"
            ));
            None
        }
    };
    let configs = bounded(
        targets.to_vec(),
        config.concurrency.max_in_flight,
        |t: Target| async move {
            pacer
                .call(|| world.provisioned(&t.function, &t.alias))
                .await
        },
    )
    .await;
    let utilization = utilization(targets, config, world, now, record).await;
    for (t, c) in targets.iter().zip(&configs) {
        if let Err(e) = c {
            record
                .errors
                .push(format!("{}:{}: {e}", t.function, t.alias));
        }
    }
    Observed {
        surge,
        unreserved,
        configs,
        utilization,
    }
}

/// Whether this region takes a peer's traffic. The local store is read first (this
/// region's DynamoDB): while it says Route 53's control plane does not answer, Route 53
/// is not called at all and the surge follows failover's local view, which holds what
/// this region decided on the data plane. Otherwise the shared state decides, with the
/// local view's data-plane evacuations added; if Route 53 fails, the local view alone.
/// None: nothing could be read (levels are then not lowered).
async fn surge(
    config: &Config,
    home: &Region,
    world: &impl World,
    record: &mut DecisionRecord,
) -> Option<bool> {
    let local = match world.local_routing().await {
        Ok(local) => local,
        Err(e) => {
            record.errors.push(format!("local store: {e}"));
            None
        }
    };
    let local_surge = local
        .as_ref()
        .map(|l| l.view().should_surge(home, &config.regions));
    if let Some(since) = local.as_ref().and_then(|l| l.control_plane_down_since) {
        record.step(format!(
            "routing from the local store: Route 53's control plane has not answered failover \
             since {since} (surge: {})",
            local_surge.unwrap_or(false)
        ));
        return local_surge;
    }
    match world.routing_state().await {
        Ok(routing) => {
            let shared = routing.is_some_and(|r| r.should_surge(home, &config.regions));
            let closed = local.is_some_and(|l| !l.closed_on_data_plane().is_empty());
            Some(shared || (closed && local_surge == Some(true)))
        }
        Err(e) if local_surge.is_some() => {
            record.step(format!(
                "routing state: {e}; from the local store instead (surge: {})",
                local_surge.unwrap_or(false)
            ));
            local_surge
        }
        Err(e) => {
            record.errors.push(format!(
                "routing state: {e} (levels are not lowered this run)"
            ));
            None
        }
    }
}

/// ProvisionedConcurrencyUtilization Maximum per target, in one GetMetricData
/// call per 500 targets; no datapoints means no traffic.
async fn utilization(
    targets: &[Target],
    config: &Config,
    world: &impl World,
    now: DateTime<Utc>,
    record: &mut DecisionRecord,
) -> Vec<Utilization> {
    let u = &config.concurrency.utilization;
    if !u.enabled || targets.is_empty() {
        return vec![Utilization::Ignored; targets.len()];
    }
    let window = u.window.secs().max(60);
    let period = i32::try_from(window.div_ceil(60) * 60).unwrap_or(i32::MAX);
    let queries: Vec<MetricQuery> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| MetricQuery {
            id: format!("u{i}"),
            namespace: "AWS/Lambda".into(),
            metric_name: "ProvisionedConcurrencyUtilization".into(),
            dimensions: vec![
                ("FunctionName".into(), t.function.clone()),
                ("Resource".into(), format!("{}:{}", t.function, t.alias)),
            ],
            stat: "Maximum".into(),
            period_secs: period,
        })
        .collect();
    let start = now - chrono::Duration::seconds(i64::try_from(window).unwrap_or(i64::MAX));
    match world.read_metrics(&queries, start, now).await {
        Ok(series) => queries
            .iter()
            .map(|q| {
                let points = series
                    .iter()
                    .find(|s| s.id == q.id)
                    .map(|s| s.points.as_slice())
                    .unwrap_or(&[]);
                points.iter().map(|(_, v)| *v).reduce(f64::max).map_or(
                    Utilization::NoTraffic,
                    |m| {
                        // CloudWatch reports the utilisation as a fraction (0..1).
                        Utilization::Max(if m > 1.0 && m <= 100.0 { m / 100.0 } else { m })
                    },
                )
            })
            .collect(),
        Err(e) => {
            record
                .errors
                .push(format!("utilisation: {e} (not used this run)"));
            vec![Utilization::Ignored; targets.len()]
        }
    }
}
