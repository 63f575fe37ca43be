//! `status`: the routing state, and each region's gate as Route 53 has it.

use crate::cas::fail;
use crate::ports::World;
use crate::FUNCTION;
use serde_json::json;
use shared::{Config, DecisionRecord, Outcome, Region};

pub async fn status(config: &Config, home: &Region, world: &impl World) -> DecisionRecord {
    let mut record = DecisionRecord::new(FUNCTION, home.as_str(), "status", "manual status");
    let state = match world.read_state().await {
        Ok(s) => s.map(|(s, _)| s).unwrap_or_default(),
        Err(e) => {
            fail::<()>(&mut record, e);
            return record;
        }
    };
    let mut regions = serde_json::Map::new();
    for region in &config.regions {
        let entry = match world.gate(region).await {
            Ok(gate) => json!({
                "routing": if state.is_evacuated(region) { "evacuated" } else { "active" },
                "gate": { "id": gate.health_check_id, "open": gate.is_open(), "healthy": gate.is_healthy(),
                          "threshold": gate.health_threshold, "children": gate.children.len(),
                          "children_healthy": gate.children_healthy },
                "gate_matches_state": gate.is_open() != state.is_evacuated(region),
            }),
            Err(e) => {
                record.errors.push(format!("gate {region}: {e}"));
                json!({ "routing": if state.is_evacuated(region) { "evacuated" } else { "active" }, "gate": null })
            }
        };
        regions.insert(region.to_string(), entry);
    }
    record.state = json!({ "routing": state, "regions": regions });
    let active = state.active_regions(&config.regions).count();
    record.outcome = if record.errors.is_empty() {
        Outcome::Noop
    } else {
        Outcome::Failed
    };
    record.reason = format!(
        "{active} of {} regions active, epoch {}",
        config.regions.len(),
        state.epoch
    );
    record
}
