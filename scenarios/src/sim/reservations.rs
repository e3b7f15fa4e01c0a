//! What a run measures about reservations and persistent volumes: operations applied and rejected, volumes created, relaunched on, lost, and the reserved and reserved-but-idle fractions of the cluster over time (`summary.json` `reservations`, `metrics/reservations.csv`).

use std::collections::BTreeMap;

use analysis::stats::TimeWeighted;
use analysis::timeseries::TimeSeries;
use models::operations::{persistent_volumes, OperationKind, Rejection};
use models::resources::{ResourceName, Resources};
use sim_core::time::SimTime;

use super::stats::round6;
use crate::scenario::{Action, Behaviour, Scenario};
use crate::summary::ReservationsSummary;

/// The resources whose reserved fractions are reported.
const NAMES: [ResourceName; 2] = [ResourceName::Cpus, ResourceName::Mem];

/// Fractions are kept as integer parts per million so the time-weighted means are
/// exact integer sums.
const PPM: f64 = 1e6;

pub(crate) struct ReservationStats {
    applied: BTreeMap<&'static str, u64>,
    rejected: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
    pub volumes_created: u64,
    pub volumes_destroyed: u64,
    pub relaunches_same_volume: u64,
    pub adopted_volume_launches: u64,
    pub volume_data_lost: u64,
    /// Per name: reserved and reserved-but-idle fractions (ppm).
    reserved: Vec<TimeWeighted>,
    idle: Vec<TimeWeighted>,
    series: TimeSeries,
}

/// True when `scenario` uses reservations or volumes beyond static ones: a stateful
/// framework or an operator reservation/volume call.
pub(crate) fn used_by(scenario: &Scenario) -> bool {
    scenario
        .frameworks
        .iter()
        .any(|f| matches!(f.behaviour, Behaviour::Stateful { .. }))
        || scenario
            .timeline
            .iter()
            .any(|s| matches!(s.action, Action::Operation { .. }))
}

/// The scalar amount of `name` in `r`, milli-units.
fn amount(r: &Resources, name: &ResourceName) -> i64 {
    r.scalar_milli(name)
}

impl ReservationStats {
    pub fn new() -> Self {
        let mut columns = Vec::new();
        for n in &NAMES {
            columns.push(format!("{n}_reserved"));
            columns.push(format!("{n}_reserved_idle"));
        }
        columns.push("volumes".to_string());
        ReservationStats {
            applied: BTreeMap::new(),
            rejected: BTreeMap::new(),
            volumes_created: 0,
            volumes_destroyed: 0,
            relaunches_same_volume: 0,
            adopted_volume_launches: 0,
            volume_data_lost: 0,
            reserved: NAMES.iter().map(|_| TimeWeighted::new(0, 0)).collect(),
            idle: NAMES.iter().map(|_| TimeWeighted::new(0, 0)).collect(),
            series: TimeSeries::new(columns),
        }
    }

    /// Counts an applied operation (`volumes` created or destroyed with it).
    pub fn applied(&mut self, kind: OperationKind, volumes: u64) {
        *self.applied.entry(kind.name()).or_insert(0) += 1;
        match kind {
            OperationKind::Create => self.volumes_created += volumes,
            OperationKind::Destroy => self.volumes_destroyed += volumes,
            _ => {}
        }
    }

    /// Counts a rejected operation under its reason.
    pub fn rejected(&mut self, kind: OperationKind, why: &Rejection) {
        *self
            .rejected
            .entry(kind.name())
            .or_default()
            .entry(why.reason())
            .or_insert(0) += 1;
    }

    /// Samples the cluster: `totals` of the live agents, and what running (or
    /// staging) tasks hold on them.
    pub fn sample<'a>(
        &mut self,
        now: SimTime,
        totals: impl Iterator<Item = &'a Resources>,
        held: &Resources,
    ) {
        let mut cluster = Resources::new();
        let mut volumes = 0u64;
        for t in totals {
            cluster.add_assign(t);
            volumes += persistent_volumes(t).len() as u64;
        }
        let reserved = cluster.reserved();
        let held_reserved = held.reserved();
        let mut row = Vec::new();
        for (i, n) in NAMES.iter().enumerate() {
            let total = amount(&cluster, n);
            let r = amount(&reserved, n);
            let idle = (r - amount(&held_reserved, n)).max(0);
            let ppm = |v: i64| {
                if total > 0 {
                    (v as f64 / total as f64 * PPM).round() as i64
                } else {
                    0
                }
            };
            self.reserved[i].set(now.as_nanos(), ppm(r));
            self.idle[i].set(now.as_nanos(), ppm(idle));
            row.push(ppm(r) as f64 / PPM);
            row.push(ppm(idle) as f64 / PPM);
        }
        row.push(volumes as f64);
        self.series.push(now.as_nanos(), row);
    }

    /// `metrics/reservations.csv`.
    pub fn metrics_file(&self) -> (String, String) {
        ("reservations.csv".to_string(), self.series.to_csv())
    }

    pub fn summary(&self, end: SimTime, volumes_at_end: u64) -> ReservationsSummary {
        let end_ns = end.as_nanos();
        let means = |v: &[TimeWeighted]| {
            NAMES
                .iter()
                .zip(v)
                .map(|(n, tw)| (n.to_string(), round6(tw.mean(end_ns) / PPM)))
                .collect()
        };
        ReservationsSummary {
            applied: self
                .applied
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            rejected: self
                .rejected
                .iter()
                .map(|(k, m)| {
                    (
                        k.to_string(),
                        m.iter().map(|(r, v)| (r.to_string(), *v)).collect(),
                    )
                })
                .collect(),
            volumes_created: self.volumes_created,
            volumes_destroyed: self.volumes_destroyed,
            volumes_at_end,
            relaunches_same_volume: self.relaunches_same_volume,
            adopted_volume_launches: self.adopted_volume_launches,
            volume_data_lost: self.volume_data_lost,
            reserved_fraction: means(&self.reserved),
            idle_reserved_fraction: means(&self.idle),
        }
    }
}
