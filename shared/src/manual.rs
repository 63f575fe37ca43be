//! The manual actions, typed: the `{"action": ...}` payloads an operator sends (ctl
//! builds them from these). The functions read the same payloads through
//! [`crate::events::ManualRequest`]; the tests below hold the two to one shape.

use crate::region::Region;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One manual request: the action and what every action may carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualAction {
    #[serde(flatten)]
    pub action: Action,
    /// Recorded in the routing state and the decision log; mutating actions need one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who asked (the caller's own claim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// Decide and report, change nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// Every manual action, by the function that owns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// failover: the routing state and each region's gate as Route 53 has it.
    Status,
    /// failover: take a region out of DNS.
    Evacuate {
        region: Region,
        /// Past the dwell time and the replication check (never past min_active_regions).
        #[serde(default)]
        force: bool,
    },
    /// failover: put an evacuated region back.
    Restore {
        region: Region,
        #[serde(default)]
        force: bool,
    },
    /// failover: a self-ending evacuation of `region`.
    Drill {
        region: Region,
        /// Default: `failover.drill.default_duration`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_minutes: Option<u64>,
    },
    /// failover: end the drill now (the one with this id, if given).
    EndDrill {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        drill_id: Option<String>,
    },
    /// replication-monitor: measure and report (with `dry_run`, publish and alert nothing).
    Check,
    /// concurrency-scheduler: the level every target would get now (changes nothing).
    Plan,
    /// concurrency-scheduler: apply the levels now.
    Reconcile,
    /// concurrency-scheduler: hold one alias at `level` until `until`.
    Override {
        function: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alias: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<Region>,
        level: u32,
        until: String,
    },
}

impl Action {
    /// The `action` field's value.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Evacuate { .. } => "evacuate",
            Self::Restore { .. } => "restore",
            Self::Drill { .. } => "drill",
            Self::EndDrill { .. } => "end_drill",
            Self::Check => "check",
            Self::Plan => "plan",
            Self::Reconcile => "reconcile",
            Self::Override { .. } => "override",
        }
    }
}

impl From<Action> for ManualAction {
    fn from(action: Action) -> Self {
        Self {
            action,
            reason: None,
            requested_by: None,
            dry_run: false,
        }
    }
}

impl ManualAction {
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    pub fn requested_by(mut self, who: impl Into<String>) -> Self {
        self.requested_by = Some(who.into());
        self
    }

    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// The payload to invoke the owning function with.
    pub fn to_payload(&self) -> Value {
        serde_json::to_value(self).expect("a manual action serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Event;
    use serde_json::json;

    fn region(name: &str) -> Region {
        Region::parse(name).unwrap()
    }

    fn every_action() -> Vec<ManualAction> {
        vec![
            Action::Status.into(),
            ManualAction::from(Action::Evacuate {
                region: region("us-east-1"),
                force: true,
            })
            .reason("API errors")
            .requested_by("alice"),
            ManualAction::from(Action::Restore {
                region: region("us-east-1"),
                force: false,
            })
            .reason("ok")
            .dry_run(true),
            ManualAction::from(Action::Drill {
                region: region("eu-central-1"),
                duration_minutes: Some(15),
            })
            .reason("game day"),
            ManualAction::from(Action::EndDrill {
                drill_id: Some("drill-1".into()),
            })
            .reason("done"),
            ManualAction::from(Action::Check).dry_run(true),
            Action::Plan.into(),
            Action::Reconcile.into(),
            ManualAction::from(Action::Override {
                function: "orders-api".into(),
                alias: None,
                region: Some(region("eu-central-1")),
                level: 8,
                until: "2h".into(),
            })
            .reason("launch"),
        ]
    }

    #[test]
    fn payloads_are_what_the_functions_parse() {
        for action in every_action() {
            let payload = action.to_payload();
            let Ok(Event::Manual(m)) = Event::parse(&payload) else {
                panic!("{payload} is not a manual request");
            };
            assert_eq!(m.action, action.action.name(), "{payload}");
            assert_eq!(m.reason, action.reason, "{payload}");
            assert_eq!(m.requested_by, action.requested_by, "{payload}");
            assert_eq!(m.dry_run, action.dry_run, "{payload}");
            // and they read back as the same action
            let back: ManualAction = serde_json::from_value(payload.clone()).unwrap();
            assert_eq!(back, action, "{payload}");
        }
    }

    #[test]
    fn payloads_carry_only_what_is_set() {
        assert_eq!(
            ManualAction::from(Action::Drill {
                region: region("eu-central-1"),
                duration_minutes: None,
            })
            .reason("g")
            .requested_by("bob")
            .to_payload(),
            json!({"action": "drill", "region": "eu-central-1", "reason": "g", "requested_by": "bob"})
        );
        assert_eq!(
            ManualAction::from(Action::Restore {
                region: region("us-east-1"),
                force: false,
            })
            .dry_run(true)
            .to_payload(),
            json!({"action": "restore", "region": "us-east-1", "force": false, "dry_run": true})
        );
        assert_eq!(
            ManualAction::from(Action::Plan).to_payload(),
            json!({"action": "plan"})
        );
    }

    #[test]
    fn a_bad_region_does_not_read() {
        let err = serde_json::from_value::<ManualAction>(
            json!({"action": "evacuate", "region": "useast1"}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not an AWS region code"), "{err}");
    }
}
