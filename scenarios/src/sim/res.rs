//! The few resource operations the simulated world needs on top of
//! [`models::resources`]: how a scheduler picks concrete resources for a task out of an
//! offer, and scalar quantities by name for the statistics.

use models::resources::{Resource, Resources, Value};

/// Scalar quantities by name (revocable and reserved resources fold into their name,
/// as Mesos's `ResourceQuantities` do), in milli-units, sorted by name.
pub(crate) fn scalars(r: &Resources) -> Vec<(String, i64)> {
    r.quantities()
        .iter()
        .map(|(name, milli)| (name.as_str().to_string(), milli))
        .collect()
}

/// `a − b` with Mesos subtraction.
pub(crate) fn subtract(a: &Resources, b: &Resources) -> Resources {
    a.minus(b)
}

/// Picks, out of `offer`, concrete resources covering `request` (written unreserved)
/// the way a typical scheduler does: the role's reservations first, then unreserved
/// resources; revocable ones only for a request written revocable (`cpus{REV}:1`, a
/// task opts into those explicitly), never shared volumes or indivisible disks. Non-scalar requests (ports) must be in the offer as
/// written. `None` when the offer cannot hold the task.
pub(crate) fn pick(offer: &Resources, request: &Resources, _role: &str) -> Option<Resources> {
    // Most tasks a framework looks at do not fit what is left of an offer: say so
    // without building anything (a replay scans up to 256 queued tasks per offer).
    let usable = |want: &Resource, r: &Resource| {
        r.name == want.name
            && r.is_scalar()
            && r.revocable == want.revocable
            && !r.shared
            && r.is_choppable()
    };
    for want in request.iter() {
        if let Value::Scalar(needed) = want.value {
            let have: i64 = offer
                .iter()
                .filter(|r| usable(want, r))
                .map(Resource::scalar_milli)
                .sum();
            if have < needed {
                return None;
            }
        }
    }
    let mut picked = Resources::default();
    for want in request.iter() {
        let Value::Scalar(mut needed) = want.value else {
            let single = Resources::from_vec(vec![want.clone()]);
            if !offer.minus(&picked).contains(&single) {
                return None;
            }
            picked.add_resource(want.clone());
            continue;
        };
        // Reserved before unreserved: a scheduler spends what only it can use first
        // (each group in the offer's order).
        let reserved = offer
            .iter()
            .filter(|r| usable(want, r) && !r.is_unreserved());
        let unreserved = offer
            .iter()
            .filter(|r| usable(want, r) && r.is_unreserved());
        for entry in reserved.chain(unreserved) {
            if needed == 0 {
                break;
            }
            let take = entry.scalar_milli().min(needed);
            if take > 0 {
                let mut part = entry.clone();
                part.value = Value::Scalar(take);
                picked.add_resource(part);
                needed -= take;
            }
        }
        if needed > 0 {
            return None;
        }
    }
    Some(picked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> Resources {
        Resources::parse(text).unwrap()
    }

    #[test]
    fn picks_reserved_resources_first() {
        let offer = r("cpus(eng):1;cpus:4;mem:1024");
        let picked = pick(&offer, &r("cpus:2;mem:512"), "eng").unwrap();
        assert_eq!(picked, r("cpus(eng):1;cpus:1;mem:512"));
        assert!(offer.contains(&picked));
    }

    #[test]
    fn refuses_what_does_not_fit_and_skips_revocable() {
        assert_eq!(pick(&r("cpus:1;mem:1024"), &r("cpus:2"), "*"), None);
        let offer = Resources::from_vec(
            r("cpus:4")
                .iter()
                .map(|c| Resource {
                    revocable: true,
                    ..c.clone()
                })
                .collect(),
        );
        assert_eq!(pick(&offer, &r("cpus:1"), "*"), None);
    }

    #[test]
    fn scalars_fold_by_name() {
        assert_eq!(
            scalars(&r("cpus(eng):1;cpus:2;mem:10")),
            vec![("cpus".to_string(), 3000), ("mem".to_string(), 10000)]
        );
    }
}
