//! `status`: the routing state, and each region's gate as Route 53 has it. When Route
//! 53's control plane does not answer, the routing comes from this region's local store
//! and every part that could not be read is named (README, "Two paths").

use crate::cas::fail;
use crate::data_plane;
use crate::ports::World;
use crate::FUNCTION;
use serde_json::json;
use shared::{Config, DecisionRecord, Outcome, Region};

pub async fn status(config: &Config, home: &Region, world: &impl World) -> DecisionRecord {
    let mut record = DecisionRecord::new(FUNCTION, home.as_str(), "status", "manual status");
    // Everything at once: a part that does not answer costs one timeout, not one each.
    let gates = futures::future::join_all(config.regions.iter().map(|r| world.gate(r)));
    let (read, local, gates) = tokio::join!(
        world.read_state(),
        data_plane::read_local(config, world),
        gates
    );
    let local = local.unwrap_or_else(|e| {
        record
            .errors
            .push(format!("local store in {home} unreadable: {e}"));
        None
    });
    let (state, source) = match (read, &local) {
        (Ok(s), _) => (s.map(|(s, _)| s).unwrap_or_default(), "shared".to_string()),
        (Err(e), Some(local)) => {
            let as_of = local
                .record
                .shared_read_at
                .map_or("never read".to_string(), |t| t.to_string());
            record.errors.push(format!(
                "routing state unreadable (Route 53's control plane: {e}); shown from {home}'s \
                 local store: the shared state as last read ({as_of}) with the decisions made \
                 on the data plane since"
            ));
            (local.record.view(), format!("local store in {home}"))
        }
        (Err(e), None) => {
            fail::<()>(&mut record, e);
            return record;
        }
    };
    let mut regions = serde_json::Map::new();
    for (region, gate) in config.regions.iter().zip(gates) {
        let routing = if state.is_evacuated(region) {
            "evacuated"
        } else {
            "active"
        };
        let entry = match gate {
            Ok(gate) => json!({
                "routing": routing,
                "gate": { "id": gate.health_check_id, "open": gate.is_open(), "healthy": gate.is_healthy(),
                          "threshold": gate.health_threshold, "children": gate.children.len(),
                          "children_healthy": gate.children_healthy },
                "gate_matches_state": gate.is_open() != state.is_evacuated(region),
            }),
            Err(e) => {
                record.errors.push(format!("gate {region} unreadable: {e}"));
                json!({ "routing": routing, "gate": null })
            }
        };
        regions.insert(region.to_string(), entry);
    }
    let data_plane = local.as_ref().map(|l| {
        json!({
            "control_plane_down_since": l.record.control_plane_down_since,
            "closed_on_data_plane": l.record.closed_on_data_plane(),
            "shared_read_at": l.record.shared_read_at,
        })
    });
    record.state =
        json!({ "routing": state, "regions": regions, "source": source, "data_plane": data_plane });
    let active = state.active_regions(&config.regions).count();
    // The routing is known (from Route 53 or this region's store): an answer, with
    // what could not be read listed among its errors.
    record.outcome = if record.errors.is_empty() || source != "shared" {
        Outcome::Noop
    } else {
        Outcome::Failed
    };
    record.reason = format!(
        "{active} of {} regions active, epoch {}{}",
        config.regions.len(),
        state.epoch,
        if source == "shared" {
            String::new()
        } else {
            format!(" (from the {source}: Route 53's control plane does not answer)")
        }
    );
    record
}
