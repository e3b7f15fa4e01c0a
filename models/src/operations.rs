//! Offer operations on reservations and persistent volumes (RESERVE, UNRESERVE, CREATE, DESTROY and the Mesos 1.10 reservation update), validated as Mesos's master validates them and turned into resource conversions applied all-or-nothing.
//!
//! The master side (`src/master/validation.cpp`, `operation::validate`) decides whether
//! an operation is acceptable at all; [`validate`] reproduces those checks and returns
//! the conversions (`getResourceConversions`, `src/common/resources_utils.cpp`): pairs
//! of *consumed* and *converted* resources with equal quantities. [`apply`] applies
//! them to a pool (an offer, an allocation or an agent's available resources) and fails
//! without changing anything when the pool does not hold what an operation consumes
//! (Mesos `Resources::apply`). The allocator applies the same conversions to its books
//! with `Allocator::update_allocation` (offer operations) and
//! `Allocator::update_available` (operator calls).
//!
//! The rules (semantics §2.11, §2.12):
//! * RESERVE without a source pushes exactly one dynamic reservation onto each
//!   resource (refining an existing reservation for a descendant role);
//! * RESERVE with a source (the 1.10 update) rewrites the whole reservation stack of
//!   `source` into that of `resources`, non-destructively: both lists carry one stack
//!   each and are identical once unreserved, so a persistent volume moves with its data;
//! * a framework may reserve only for the role its offer was allocated to, which must
//!   be one of its roles; the operator reserves from unallocated resources;
//! * UNRESERVE pops the top reservation, which must be dynamic; a persistent volume
//!   must be destroyed before its disk is unreserved;
//! * CREATE needs reserved disk, a persistence id unique within the role and a
//!   container path; a shared volume needs the framework's SHARED_RESOURCES capability;
//! * DESTROY needs a volume that exists on the agent and that no task uses;
//! * GROW_VOLUME adds disk of the same kind to a volume, SHRINK_VOLUME gives part of
//!   it back as plain disk (neither for shared volumes, no shrinking of MOUNT disks;
//!   every agent is taken to have the RESIZE_VOLUME capability).
//!
//! ```
//! use models::operations::{apply, validate, Caller, Operation, OperationContext};
//! use models::resources::Resources;
//! let offer = Resources::parse("cpus:4;disk:100").unwrap();
//! let op = Operation::Reserve {
//!     source: Resources::new(),
//!     resources: Resources::parse("disk(dyn:db@db):100").unwrap(),
//! };
//! let roles = ["db".to_string()];
//! let ctx = OperationContext::framework(&roles, "db", Some("db"), false);
//! let conversions = validate(&op, &ctx).unwrap();
//! let after = apply(&offer, &conversions).unwrap();
//! assert_eq!(after.to_string(), "cpus:4;disk(dyn:db@db):100");
//! ```

use std::collections::BTreeSet;
use std::sync::Arc;

use thiserror::Error;

use crate::allocator::AgentCapabilities;
use crate::resources::{
    is_same_or_ancestor, DiskInfo, ReservationKind, Resource, ResourceName, Resources, Value,
};

/// An offer operation (`Offer::Operation`) or the equivalent operator call.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Operation {
    /// RESERVE (operator `RESERVE_RESOURCES`): with an empty `source`, push one dynamic
    /// reservation onto each of `resources`; with a `source`, rewrite the reservations
    /// of `source` into those of `resources` (reservation update, Mesos 1.10).
    Reserve {
        /// What is re-reserved (empty for a plain reservation).
        source: Resources,
        /// The target: the resources as they are reserved afterwards.
        resources: Resources,
    },
    /// UNRESERVE: pop the top (dynamic) reservation of each resource.
    Unreserve {
        /// The reserved resources.
        resources: Resources,
    },
    /// CREATE: turn reserved disk into persistent volumes.
    Create {
        /// The volumes, with persistence id and container path.
        volumes: Resources,
    },
    /// DESTROY: turn persistent volumes back into reserved disk (their data is gone).
    Destroy {
        /// The volumes.
        volumes: Resources,
    },
    /// GROW_VOLUME (Mesos 1.6): add disk of the same reservation to a volume.
    GrowVolume {
        /// The volume.
        volume: Resource,
        /// The disk added to it (the volume's disk, without persistence).
        addition: Resource,
    },
    /// SHRINK_VOLUME (Mesos 1.6): give part of a volume back as plain reserved disk.
    ShrinkVolume {
        /// The volume.
        volume: Resource,
        /// Milli-MB to take off (less than the volume's size).
        subtract: i64,
    },
}

/// The kind of an operation, as counted in reports.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum OperationKind {
    /// RESERVE without a source.
    Reserve,
    /// UNRESERVE.
    Unreserve,
    /// RESERVE with a source: a reservation update.
    Update,
    /// CREATE.
    Create,
    /// DESTROY.
    Destroy,
    /// GROW_VOLUME.
    Grow,
    /// SHRINK_VOLUME.
    Shrink,
}

impl OperationKind {
    /// The lower-case name used in the event log and reports.
    pub fn name(self) -> &'static str {
        match self {
            OperationKind::Reserve => "reserve",
            OperationKind::Unreserve => "unreserve",
            OperationKind::Update => "update_reservation",
            OperationKind::Create => "create",
            OperationKind::Destroy => "destroy",
            OperationKind::Grow => "grow_volume",
            OperationKind::Shrink => "shrink_volume",
        }
    }
}

impl Operation {
    /// Its kind.
    pub fn kind(&self) -> OperationKind {
        match self {
            Operation::Reserve { source, .. } if !source.is_empty() => OperationKind::Update,
            Operation::Reserve { .. } => OperationKind::Reserve,
            Operation::Unreserve { .. } => OperationKind::Unreserve,
            Operation::Create { .. } => OperationKind::Create,
            Operation::Destroy { .. } => OperationKind::Destroy,
            Operation::GrowVolume { .. } => OperationKind::Grow,
            Operation::ShrinkVolume { .. } => OperationKind::Shrink,
        }
    }
}

/// One conversion (`ResourceConversion`): `consumed` is replaced by `converted`; both
/// have the same scalar quantities.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Conversion {
    /// What the operation takes.
    pub consumed: Resources,
    /// What it puts in its place.
    pub converted: Resources,
}

/// Who asks for an operation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Caller<'a> {
    /// A framework accepting an offer made to `allocation_role`.
    Framework {
        /// The framework's roles.
        roles: &'a [String],
        /// The role the offer was allocated to.
        allocation_role: &'a str,
        /// The SHARED_RESOURCES capability.
        shared_resources: bool,
    },
    /// The operator API, on unallocated resources.
    Operator,
}

/// What validation needs to know besides the operation.
#[derive(Clone, Copy, Debug)]
pub struct OperationContext<'a> {
    /// Who asks.
    pub caller: Caller<'a>,
    /// The authenticated principal, if any: reservations and volumes must name it.
    pub principal: Option<&'a str>,
    /// The agent's capabilities (HIERARCHICAL_ROLE, RESERVATION_REFINEMENT).
    pub agent: AgentCapabilities,
    /// The agent's checkpointed resources (its total): the volumes that exist.
    pub checkpointed: &'a Resources,
    /// Resources used by tasks on the agent (a volume in use cannot be destroyed).
    pub used: &'a Resources,
}

static NONE: Resources = Resources::new();

impl<'a> OperationContext<'a> {
    /// A framework's operation on an agent with default capabilities, no volumes and
    /// nothing in use (set the other fields as needed).
    pub fn framework(
        roles: &'a [String],
        allocation_role: &'a str,
        principal: Option<&'a str>,
        shared_resources: bool,
    ) -> OperationContext<'a> {
        OperationContext {
            caller: Caller::Framework {
                roles,
                allocation_role,
                shared_resources,
            },
            principal,
            agent: AgentCapabilities::default(),
            checkpointed: &NONE,
            used: &NONE,
        }
    }

    /// An operator call on an agent with default capabilities (set `checkpointed` and
    /// `used` as needed).
    pub fn operator(principal: Option<&'a str>) -> OperationContext<'a> {
        OperationContext {
            caller: Caller::Operator,
            principal,
            agent: AgentCapabilities::default(),
            checkpointed: &NONE,
            used: &NONE,
        }
    }
}

/// Why an operation was rejected (Mesos drops it with `OPERATION_ERROR`, or the
/// operator call fails). Nothing of a rejected operation is applied.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum Rejection {
    /// The operation names no resources.
    #[error("the operation names no resources")]
    Empty,
    /// A reservation stack Mesos refuses: a `*` role, a static reservation above a
    /// dynamic one, a refinement that is not a strict descendant, or a principal on a
    /// static reservation.
    #[error("invalid reservation on {0}")]
    InvalidReservation(String),
    /// RESERVE target or UNRESERVE resource whose top reservation is not dynamic.
    #[error("resource {0} is not dynamically reserved")]
    NotDynamicallyReserved(String),
    /// Reservation update with different stacks within `source` or `resources`.
    #[error("mixed reservations are not supported: {0}")]
    MixedReservations(String),
    /// Reservation update whose source and target differ beyond reservations.
    #[error("source and target resources should refer to identical resource quantities: {0}")]
    SourceMismatch(String),
    /// A hierarchical role on an agent without HIERARCHICAL_ROLE.
    #[error("agent lacks the HIERARCHICAL_ROLE capability for {0}")]
    HierarchicalRoleUnsupported(String),
    /// A refined reservation on an agent without RESERVATION_REFINEMENT.
    #[error("agent lacks the RESERVATION_REFINEMENT capability for {0}")]
    RefinementUnsupported(String),
    /// The reservation's or volume's principal is not the caller's.
    #[error("principal does not match on {0}")]
    PrincipalMismatch(String),
    /// A framework reserving for a role other than the offer's allocation role.
    #[error("reservation role of {0} is not the offer's allocation role")]
    RoleNotAllocated(String),
    /// A framework reserving for a role it is not subscribed to.
    #[error("the framework is not subscribed to the reservation role of {0}")]
    RoleNotSubscribed(String),
    /// UNRESERVE of a persistent volume (destroy it first).
    #[error("a dynamically reserved persistent volume {0} cannot be unreserved directly")]
    VolumeUnreserve(String),
    /// CREATE/DESTROY of something that is not a persistent volume.
    #[error("not a persistent volume: {0}")]
    NotPersistentVolume(String),
    /// CREATE on unreserved disk.
    #[error("persistent volumes cannot be created from unreserved resources: {0}")]
    UnreservedVolume(String),
    /// CREATE with a persistence id already used in the role.
    #[error("persistence id `{0}` is not unique")]
    DuplicatePersistenceId(String),
    /// CREATE of a shared volume by a framework without SHARED_RESOURCES.
    #[error("shared volume {0} needs the SHARED_RESOURCES capability")]
    SharedNotCapable(String),
    /// DESTROY of a volume the agent does not have.
    #[error("persistent volume not found: {0}")]
    VolumeNotFound(String),
    /// DESTROY of a volume a task uses.
    #[error("persistent volume in use: {0}")]
    VolumeInUse(String),
    /// GROW/SHRINK that Mesos refuses: a non-positive amount, shrinking to nothing, a
    /// shared volume, shrinking a MOUNT disk, or an addition unlike the volume's disk.
    #[error("invalid volume resize: {0}")]
    InvalidResize(String),
    /// The pool (offer, allocation or available resources) does not hold what the
    /// operation consumes: over-subscription, or (operator calls) resources held by
    /// a task or an offer that was not rescinded (409 Conflict).
    #[error("{consumed} is not contained in {pool}")]
    NotAvailable {
        /// What the operation needed.
        consumed: String,
        /// What there was.
        pool: String,
    },
}

impl Rejection {
    /// A stable snake_case key, for counters in reports.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Empty => "empty",
            Rejection::InvalidReservation(_) => "invalid_reservation",
            Rejection::NotDynamicallyReserved(_) => "not_dynamically_reserved",
            Rejection::MixedReservations(_) => "mixed_reservations",
            Rejection::SourceMismatch(_) => "source_mismatch",
            Rejection::HierarchicalRoleUnsupported(_) => "hierarchical_role_unsupported",
            Rejection::RefinementUnsupported(_) => "refinement_unsupported",
            Rejection::PrincipalMismatch(_) => "principal_mismatch",
            Rejection::RoleNotAllocated(_) => "role_not_allocated",
            Rejection::RoleNotSubscribed(_) => "role_not_subscribed",
            Rejection::VolumeUnreserve(_) => "volume_unreserve",
            Rejection::NotPersistentVolume(_) => "not_persistent_volume",
            Rejection::UnreservedVolume(_) => "unreserved_volume",
            Rejection::DuplicatePersistenceId(_) => "duplicate_persistence_id",
            Rejection::SharedNotCapable(_) => "shared_not_capable",
            Rejection::VolumeNotFound(_) => "volume_not_found",
            Rejection::VolumeInUse(_) => "volume_in_use",
            Rejection::InvalidResize(_) => "invalid_resize",
            Rejection::NotAvailable { .. } => "not_available",
        }
    }
}

/// True for a persistent volume (a disk with a persistence id).
pub fn is_persistent_volume(r: &Resource) -> bool {
    r.name == ResourceName::Disk
        && r.disk
            .as_deref()
            .is_some_and(|d| d.persistence_id.is_some())
}

/// The persistent volumes among `resources`.
pub fn persistent_volumes(resources: &Resources) -> Resources {
    resources.filter(is_persistent_volume)
}

/// The disk a volume was made from (`stripPersistentVolume`): persistence and volume
/// dropped, the source kept, never shared.
pub fn strip_volume(volume: &Resource) -> Resource {
    let mut r = volume.clone();
    r.shared = false;
    r.disk = volume.disk.as_deref().and_then(|d| {
        d.source.clone().map(|source| {
            Arc::new(DiskInfo {
                source: Some(source),
                ..DiskInfo::default()
            })
        })
    });
    r
}

fn single(r: &Resource) -> Resources {
    Resources::from_vec(vec![r.clone()])
}

/// `Resources::validate` of the reservation stack: no `*` role, static reservations
/// below dynamic ones, principals only on dynamic ones, each refinement a strict
/// descendant of the one below.
fn validate_stack(r: &Resource) -> Result<(), Rejection> {
    let stack = r.reservations.as_slice();
    let bad = || Rejection::InvalidReservation(r.to_string());
    for (i, info) in stack.iter().enumerate() {
        if &*info.role == "*" || info.role.is_empty() {
            return Err(bad());
        }
        if info.kind == ReservationKind::Static && info.principal.is_some() {
            return Err(bad());
        }
        if i > 0 {
            let below = &stack[i - 1];
            if below.kind == ReservationKind::Dynamic && info.kind == ReservationKind::Static {
                return Err(bad());
            }
            if below.role == info.role || !is_same_or_ancestor(&below.role, &info.role) {
                return Err(bad());
            }
        }
    }
    Ok(())
}

fn is_dynamically_reserved(r: &Resource) -> bool {
    r.reservations
        .as_slice()
        .last()
        .is_some_and(|t| t.kind == ReservationKind::Dynamic)
}

/// Agent capability checks shared by RESERVE and CREATE.
fn check_agent(r: &Resource, ctx: &OperationContext<'_>) -> Result<(), Rejection> {
    if !ctx.agent.hierarchical_role && r.reservations.role().is_some_and(|x| x.contains('/')) {
        return Err(Rejection::HierarchicalRoleUnsupported(r.to_string()));
    }
    if !ctx.agent.reservation_refinement && r.reservations.is_refined() {
        return Err(Rejection::RefinementUnsupported(r.to_string()));
    }
    Ok(())
}

fn validate_reserve(
    source: &Resources,
    target: &Resources,
    ctx: &OperationContext<'_>,
) -> Result<Vec<Conversion>, Rejection> {
    if target.is_empty() {
        return Err(Rejection::Empty);
    }
    for r in target.iter().chain(source.iter()) {
        validate_stack(r)?;
    }
    if !source.is_empty() {
        for list in [source, target] {
            let first = &list.as_slice()[0].reservations;
            if list.iter().any(|r| r.reservations != *first) {
                return Err(Rejection::MixedReservations(list.to_string()));
            }
        }
        if source.to_unreserved() != target.to_unreserved() {
            return Err(Rejection::SourceMismatch(format!(
                "{} vs. {}",
                source.to_unreserved(),
                target.to_unreserved()
            )));
        }
    }
    for r in target.iter() {
        if !is_dynamically_reserved(r) {
            return Err(Rejection::NotDynamicallyReserved(r.to_string()));
        }
        check_agent(r, ctx)?;
        if let Some(p) = ctx.principal {
            let top = r.reservations.as_slice().last().expect("reserved");
            if top.principal.as_deref() != Some(p) {
                return Err(Rejection::PrincipalMismatch(r.to_string()));
            }
        }
        if let Caller::Framework {
            roles,
            allocation_role,
            ..
        } = ctx.caller
        {
            let role = r.reservations.role().expect("reserved");
            if role != allocation_role {
                return Err(Rejection::RoleNotAllocated(r.to_string()));
            }
            if !roles.iter().any(|x| x == role) {
                return Err(Rejection::RoleNotSubscribed(r.to_string()));
            }
        }
    }
    if !source.is_empty() {
        return Ok(vec![Conversion {
            consumed: source.clone(),
            converted: target.clone(),
        }]);
    }
    Ok(target
        .iter()
        .map(|r| {
            let mut below = r.clone();
            below.reservations = r.reservations.pop();
            Conversion {
                consumed: single(&below),
                converted: single(r),
            }
        })
        .collect())
}

fn validate_unreserve(resources: &Resources) -> Result<Vec<Conversion>, Rejection> {
    if resources.is_empty() {
        return Err(Rejection::Empty);
    }
    for r in resources.iter() {
        validate_stack(r)?;
        if !is_dynamically_reserved(r) {
            return Err(Rejection::NotDynamicallyReserved(r.to_string()));
        }
        if is_persistent_volume(r) {
            return Err(Rejection::VolumeUnreserve(r.to_string()));
        }
    }
    Ok(resources
        .iter()
        .map(|r| {
            let mut below = r.clone();
            below.reservations = r.reservations.pop();
            Conversion {
                consumed: single(r),
                converted: single(&below),
            }
        })
        .collect())
}

fn check_volume_shape(v: &Resource) -> Result<(), Rejection> {
    let d = v.disk.as_deref();
    if !is_persistent_volume(v) || d.is_none_or(|d| d.volume_path.is_none()) {
        return Err(Rejection::NotPersistentVolume(v.to_string()));
    }
    Ok(())
}

fn validate_create(
    volumes: &Resources,
    ctx: &OperationContext<'_>,
) -> Result<Vec<Conversion>, Rejection> {
    if volumes.is_empty() {
        return Err(Rejection::Empty);
    }
    for v in volumes.iter() {
        validate_stack(v)?;
        check_volume_shape(v)?;
        if v.is_unreserved() {
            return Err(Rejection::UnreservedVolume(v.to_string()));
        }
    }
    // Persistence ids are unique per role over the agent's volumes and the new ones.
    let key = |v: &Resource| {
        let role = v.reservations.role().unwrap_or("*").to_string();
        let id = v
            .disk
            .as_deref()
            .and_then(|d| d.persistence_id.clone())
            .unwrap_or_default();
        (role, id)
    };
    let mut seen: BTreeSet<(String, String)> = persistent_volumes(ctx.checkpointed)
        .iter()
        .map(key)
        .collect();
    for v in volumes.iter() {
        let k = key(v);
        if !seen.insert(k.clone()) {
            return Err(Rejection::DuplicatePersistenceId(k.1));
        }
    }
    for v in volumes.iter() {
        if let Caller::Framework {
            shared_resources: false,
            ..
        } = ctx.caller
        {
            if v.shared {
                return Err(Rejection::SharedNotCapable(v.to_string()));
            }
        }
        check_agent(v, ctx)?;
        if let Some(p) = ctx.principal {
            let vp = v
                .disk
                .as_deref()
                .and_then(|d| d.persistence_principal.as_deref());
            if vp != Some(p) {
                return Err(Rejection::PrincipalMismatch(v.to_string()));
            }
        }
    }
    Ok(volumes
        .iter()
        .map(|v| Conversion {
            consumed: single(&strip_volume(v)),
            converted: single(v),
        })
        .collect())
}

fn validate_destroy(
    volumes: &Resources,
    ctx: &OperationContext<'_>,
) -> Result<Vec<Conversion>, Rejection> {
    if volumes.is_empty() {
        return Err(Rejection::Empty);
    }
    for v in volumes.iter() {
        check_volume_shape(v)?;
    }
    for v in volumes.iter() {
        if !ctx.checkpointed.contains(&single(v)) {
            return Err(Rejection::VolumeNotFound(v.to_string()));
        }
    }
    for v in volumes.iter() {
        if ctx.used.contains(&single(v)) {
            return Err(Rejection::VolumeInUse(v.to_string()));
        }
    }
    Ok(volumes
        .iter()
        .map(|v| Conversion {
            consumed: single(v),
            converted: single(&strip_volume(v)),
        })
        .collect())
}

fn resized(volume: &Resource, milli: i64) -> Resource {
    Resource {
        value: Value::Scalar(milli),
        ..volume.clone()
    }
}

fn validate_grow(volume: &Resource, addition: &Resource) -> Result<Vec<Conversion>, Rejection> {
    if addition.scalar_milli() <= 0 || !addition.is_scalar() {
        return Err(Rejection::InvalidResize(format!(
            "the addition {addition} must be greater than zero"
        )));
    }
    validate_stack(volume)?;
    check_volume_shape(volume)?;
    if volume.shared {
        return Err(Rejection::InvalidResize(format!(
            "growing a shared persistent volume is not supported: {volume}"
        )));
    }
    let stripped = strip_volume(volume);
    if Resources::from_vec(vec![stripped, addition.clone()]).len() != 1 {
        return Err(Rejection::InvalidResize(format!(
            "incompatible volume {volume} and addition {addition}"
        )));
    }
    let mut consumed = single(volume);
    consumed.add_resource(addition.clone());
    Ok(vec![Conversion {
        consumed,
        converted: single(&resized(
            volume,
            volume.scalar_milli() + addition.scalar_milli(),
        )),
    }])
}

fn validate_shrink(volume: &Resource, subtract: i64) -> Result<Vec<Conversion>, Rejection> {
    if subtract <= 0 {
        return Err(Rejection::InvalidResize(
            "the amount to subtract must be greater than zero".to_string(),
        ));
    }
    if volume.scalar_milli() <= subtract {
        return Err(Rejection::InvalidResize(format!(
            "the amount to subtract must be smaller than the size of {volume}"
        )));
    }
    if volume
        .disk
        .as_deref()
        .is_some_and(DiskInfo::is_mount_source)
    {
        return Err(Rejection::InvalidResize(format!(
            "shrinking a volume on a MOUNT disk is not supported: {volume}"
        )));
    }
    validate_stack(volume)?;
    check_volume_shape(volume)?;
    if volume.shared {
        return Err(Rejection::InvalidResize(format!(
            "shrinking a shared persistent volume is not supported: {volume}"
        )));
    }
    let mut converted = single(&resized(volume, volume.scalar_milli() - subtract));
    converted.add_resource(resized(&strip_volume(volume), subtract));
    Ok(vec![Conversion {
        consumed: single(volume),
        converted,
    }])
}

/// Validates `op` as Mesos's master does and returns its conversions; the caller then
/// [`apply`]s them to the pool the operation draws from.
pub fn validate(op: &Operation, ctx: &OperationContext<'_>) -> Result<Vec<Conversion>, Rejection> {
    match op {
        Operation::Reserve { source, resources } => validate_reserve(source, resources, ctx),
        Operation::Unreserve { resources } => validate_unreserve(resources),
        Operation::Create { volumes } => validate_create(volumes, ctx),
        Operation::Destroy { volumes } => validate_destroy(volumes, ctx),
        Operation::GrowVolume { volume, addition } => validate_grow(volume, addition),
        Operation::ShrinkVolume { volume, subtract } => validate_shrink(volume, *subtract),
    }
}

/// Applies `conversions` in order to `pool` (Mesos `Resources::apply`): each consumed
/// part must be contained in the pool as it is at that point. All or nothing: on
/// failure the pool is untouched and the rejection names what was missing.
pub fn apply(pool: &Resources, conversions: &[Conversion]) -> Result<Resources, Rejection> {
    let mut out = pool.clone();
    for c in conversions {
        if !out.contains(&c.consumed) {
            return Err(Rejection::NotAvailable {
                consumed: c.consumed.to_string(),
                pool: out.to_string(),
            });
        }
        out.sub_assign(&c.consumed);
        out.add_assign(&c.converted);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
