//! What `live run`, `live master` and `live agent` share about the built-in batch framework's tasks: the resource checks on agents and tasks, and the cgroup limits a task's resources become.

use models::resources::{ResourceName, Resources};

use crate::cgroup::Limits;

/// The quantity of scalar `name` in `r`, in milli-units.
pub fn scalar(r: &Resources, name: &str) -> i64 {
    r.quantity_milli(&ResourceName::new(name))
}

/// Checks that `r` holds positive `cpus` and `mem` and only unreserved scalars; `what`
/// (a flag, say) names it in the error.
pub fn check_resources(what: &str, r: &Resources) -> Result<(), String> {
    if scalar(r, "cpus") <= 0 || scalar(r, "mem") <= 0 {
        return Err(format!("{what} needs positive cpus and mem, got `{r}`"));
    }
    if r.iter().any(|x| !x.is_scalar() || !x.is_unreserved()) {
        return Err(format!(
            "{what} takes unreserved scalars only (cpus, mem), got `{r}`"
        ));
    }
    Ok(())
}

/// A task's cgroup limits: `cpus` becomes its CFS quota, `mem` (MB) its memory limit.
pub fn limits_for(r: &Resources) -> Limits {
    // `mem` is in MB; its milli-units are thousandths of a MB. In u128: a huge `mem`
    // saturates (the kernel then refuses or clamps it) instead of overflowing.
    let mem_milli = scalar(r, "mem").max(0) as u128;
    Limits {
        cpu_milli: scalar(r, "cpus").max(0) as u64,
        memory_bytes: u64::try_from(mem_milli * (1 << 20) / 1000).unwrap_or(u64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_cpus_and_mem_in_mb() {
        let l = limits_for(&Resources::parse("cpus:0.5;mem:64").unwrap());
        assert_eq!(l.cpu_milli, 500);
        assert_eq!(l.memory_bytes, 64 << 20);
    }

    #[test]
    fn resources_need_positive_unreserved_cpus_and_mem() {
        let check = |t: &str| check_resources("--resources", &Resources::parse(t).unwrap());
        assert!(check("cpus:1;mem:128").is_ok());
        assert_eq!(
            check("cpus:1").unwrap_err(),
            "--resources needs positive cpus and mem, got `cpus:1`"
        );
    }
}
