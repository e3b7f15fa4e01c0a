//! Mesos resources: scalars in fixed-point thousandths, ranges, sets, reservation stacks, disks, revocable and shared markers, and the arithmetic the allocator needs.
//!
//! # Representation
//!
//! A [`Resources`] value is a small vector of [`Resource`] entries kept in a canonical
//! order (by name, then reservation stack, disk, revocable and shared markers). Two
//! entries are merged exactly when Mesos would merge them (§1.1 of the semantics): same
//! name, value type, reservation stack (labels included), disk info, revocable and
//! shared markers. The exceptions are *atomic* entries, which are never merged and are
//! only subtracted whole:
//!
//! * shared resources (`<SHARED>`): adding the same shared volume twice holds two
//!   copies, and [`Resources::quantities`] counts it once;
//! * MOUNT disks, which are indivisible;
//! * persistent volumes (disks with a persistence id).
//!
//! Scalars are `i64` milli-units: `1.5123` cpus parse as `1512` (`llround(v * 1000)`,
//! as `src/common/values.cpp` does). Heap parts of an entry (ranges, sets, reservation
//! stacks, disk info) sit behind `Arc`, so cloning a `Resources` costs one allocation
//! for the vector and nothing per entry.
//!
//! # Text notation
//!
//! [`Resources::parse`] and the `Display` impl use the Mesos notation
//! `cpus(eng):2;mem:1024;ports:[31000-32000];disk(eng):100`, where parentheses hold a
//! static reservation, extended so that every field round-trips:
//!
//! ```text
//! resources    := term (";" term)*
//! term         := name ["(" reservations ")"] ["[" disk "]"] ["{REV}"] ["<SHARED>"] ":" value
//! reservations := "*" | reservation ("," reservation)*       bottom of the stack first
//! reservation  := ["dyn:"] role ["@" principal] ["{" label ("," label)* "}"]
//! label        := key ["=" value]
//! disk         := item ("," item)*
//! item         := ("PATH" | "MOUNT") [":" root] | "id=" id | "principal=" principal
//!               | "path=" container_path | "mode=" ("RW" | "RO")
//! value        := scalar | "[" begin "-" end ("," begin "-" end)* "]" | "{" item ("," item)* "}"
//! ```
//!
//! * `cpus(eng):2` is statically reserved for `eng`; `cpus(dyn:eng@alice):2` is
//!   dynamically reserved for `eng` by principal `alice`; `cpus(eng,dyn:eng/be):2` is a
//!   refinement (static `eng`, then dynamic `eng/be` on top).
//! * `cpus{REV}:10` is revocable and `disk(eng)[id=v1,path=data,mode=RW]<SHARED>:64` a
//!   shared persistent volume, as Mesos's own `operator<<` marks them.
//! * Roles, principals, names and label parts may not contain whitespace or any of
//!   `()[]{}<>:;,@=|`. Whitespace around tokens is ignored.
//! * A zero scalar (`disk:0`) is omitted; negative or non-finite scalars, fractional
//!   `gpus` and `begin > end` ranges are errors that name the term and its column.
//! * Text may come from an untrusted live peer, so a scalar above
//!   [`MAX_SCALAR_MILLI`] (10^12 units), or a name whose scalars in one text total
//!   more, is an error too; range ends may be any `u64`. Sums of quantities and range
//!   element counts saturate instead of overflowing.
//!
//! ```
//! use models::resources::Resources;
//! let r = Resources::parse("cpus(eng):2;mem:1024;ports:[31000-32000];cpus{REV}:0.5").unwrap();
//! assert_eq!(r.to_string(), "cpus{REV}:0.5;cpus(eng):2;mem:1024;ports:[31000-32000]");
//! assert_eq!(Resources::parse(&r.to_string()).unwrap(), r);
//! ```

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::Rng;
use thiserror::Error;

/// Milli-units per unit: scalars are fixed-point with three decimal digits.
pub const MILLI: i64 = 1000;

/// The largest scalar the parsers accept, in milli-units: 10^15 milli = 10^12 units
/// (10^12 cpus, or 10^12 MB = 1 EB of mem or disk).
///
/// Resource text can come from an untrusted peer (an agent's `Register`, a
/// `LaunchTask`), so a value must not be able to overflow the `i64` sums the
/// allocator keeps. No real cluster comes near this bound, and it leaves room:
/// `i64::MAX / MAX_SCALAR_MILLI` ≈ 9,223, so the totals of over nine thousand agents
/// each at the bound still fit in an `i64` exactly. Beyond that (or for values built
/// in code rather than parsed) the sums saturate at `i64::MAX` instead of wrapping
/// or panicking (see [`ResourceQuantities::add_milli`]).
pub const MAX_SCALAR_MILLI: i64 = 1_000_000_000_000_000;

/// Converts a decimal quantity to milli-units with `llround(v * 1000)`, as Mesos does.
/// Values beyond the `i64` range saturate (and NaN gives 0), as Rust's float-to-int
/// casts do; the parsers reject anything above [`MAX_SCALAR_MILLI`] first.
pub fn to_milli(v: f64) -> i64 {
    (v * MILLI as f64).round() as i64
}

/// Converts milli-units back to a decimal quantity (for reports only).
pub fn from_milli(m: i64) -> f64 {
    m as f64 / MILLI as f64
}

// ---------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------

/// A resource name. Well-known names are enum variants, so comparing them is an
/// integer comparison; custom names share their string through an `Arc` (of a
/// `String`: a thin pointer keeps the name, and so every entry, small).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceName {
    /// `cpus` (cores).
    Cpus,
    /// `mem` (MB).
    Mem,
    /// `disk` (MB).
    Disk,
    /// `gpus` (whole numbers).
    Gpus,
    /// `ports` (ranges).
    Ports,
    /// Any other name.
    Custom(Arc<String>),
}

impl ResourceName {
    /// The name for `s`, using a well-known variant where one exists.
    pub fn new(s: &str) -> ResourceName {
        match s {
            "cpus" => ResourceName::Cpus,
            "mem" => ResourceName::Mem,
            "disk" => ResourceName::Disk,
            "gpus" => ResourceName::Gpus,
            "ports" => ResourceName::Ports,
            other => ResourceName::Custom(Arc::new(other.to_string())),
        }
    }

    /// The name as Mesos spells it.
    pub fn as_str(&self) -> &str {
        match self {
            ResourceName::Cpus => "cpus",
            ResourceName::Mem => "mem",
            ResourceName::Disk => "disk",
            ResourceName::Gpus => "gpus",
            ResourceName::Ports => "ports",
            ResourceName::Custom(s) => s,
        }
    }
}

impl fmt::Display for ResourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ResourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------

/// Inclusive integer intervals, sorted, non-overlapping and non-adjacent (for example
/// `ports:[31000-32000]`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Ranges(Arc<[(u64, u64)]>);

impl Ranges {
    /// Normalizes arbitrary intervals (merging overlapping and adjacent ones).
    /// Intervals with `begin > end` are ignored.
    pub fn new(mut intervals: Vec<(u64, u64)>) -> Ranges {
        intervals.retain(|(b, e)| b <= e);
        intervals.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(intervals.len());
        for (b, e) in intervals {
            match out.last_mut() {
                Some(last) if b <= last.1.saturating_add(1) => last.1 = last.1.max(e),
                _ => out.push((b, e)),
            }
        }
        Ranges(out.into())
    }

    /// The normalized intervals.
    pub fn intervals(&self) -> &[(u64, u64)] {
        &self.0
    }

    /// Number of elements (the "quantity" Mesos uses for min_allocatable_resources).
    /// Saturates at `u64::MAX` (the whole of `[0-18446744073709551615]` has 2^64
    /// elements, one more than a `u64` holds).
    pub fn count(&self) -> u64 {
        self.0.iter().fold(0u64, |n, (b, e)| {
            n.saturating_add((e - b).saturating_add(1))
        })
    }

    /// True when there is no element.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn union(&self, other: &Ranges) -> Ranges {
        let mut v = self.0.to_vec();
        v.extend_from_slice(&other.0);
        Ranges::new(v)
    }

    fn difference(&self, other: &Ranges) -> Ranges {
        let mut out = Vec::with_capacity(self.0.len() + 1);
        for &(b, e) in self.0.iter() {
            let mut cur = b;
            let mut done = false;
            for &(ob, oe) in other.0.iter() {
                if oe < cur || ob > e {
                    continue;
                }
                if ob > cur {
                    out.push((cur, ob - 1));
                }
                if oe >= e {
                    done = true;
                    break;
                }
                cur = oe + 1;
            }
            if !done {
                out.push((cur, e));
            }
        }
        Ranges(out.into())
    }

    fn contains(&self, other: &Ranges) -> bool {
        other
            .0
            .iter()
            .all(|&(ob, oe)| self.0.iter().any(|&(b, e)| b <= ob && oe <= e))
    }
}

/// A set of strings (for example `{a,b}`), sorted and without duplicates.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Set(Arc<[Arc<str>]>);

impl Set {
    /// Builds a set from items (sorted, duplicates removed).
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(items: I) -> Set {
        let mut v: Vec<Arc<str>> = items.into_iter().map(|s| Arc::from(s.as_ref())).collect();
        v.sort();
        v.dedup();
        Set(v.into())
    }

    /// The items in order.
    pub fn items(&self) -> &[Arc<str>] {
        &self.0
    }

    fn union(&self, other: &Set) -> Set {
        Set::new(self.0.iter().chain(other.0.iter()).map(|s| &**s))
    }

    fn difference(&self, other: &Set) -> Set {
        Set::new(self.0.iter().filter(|s| !other.0.contains(s)).map(|s| &**s))
    }

    fn contains(&self, other: &Set) -> bool {
        other.0.iter().all(|s| self.0.contains(s))
    }
}

/// The value of one resource entry.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Value {
    /// A scalar in milli-units (`cpus:1.5` is `Scalar(1500)`).
    Scalar(i64),
    /// Integer ranges (ports).
    Ranges(Ranges),
    /// A set of strings.
    Set(Set),
}

impl Value {
    fn type_rank(&self) -> u8 {
        match self {
            Value::Scalar(_) => 0,
            Value::Ranges(_) => 1,
            Value::Set(_) => 2,
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Value::Scalar(v) => *v <= 0,
            Value::Ranges(r) => r.is_empty(),
            Value::Set(s) => s.0.is_empty(),
        }
    }

    /// The Mesos "quantity" in milli-units: the scalar itself, or the element count of
    /// ranges and sets times 1000 (saturating at `i64::MAX`).
    pub fn quantity_milli(&self) -> i64 {
        match self {
            Value::Scalar(v) => *v,
            Value::Ranges(r) => i64::try_from(r.count())
                .unwrap_or(i64::MAX)
                .saturating_mul(MILLI),
            Value::Set(s) => i64::try_from(s.0.len())
                .unwrap_or(i64::MAX)
                .saturating_mul(MILLI),
        }
    }
}

// ---------------------------------------------------------------------------------
// Reservations and disks
// ---------------------------------------------------------------------------------

/// How a reservation was made.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum ReservationKind {
    /// From the agent's `--resources` flag.
    Static,
    /// By a RESERVE operation.
    Dynamic,
}

/// One element of a reservation stack (`ReservationInfo`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ReservationInfo {
    /// Static or dynamic.
    pub kind: ReservationKind,
    /// The role the resources are reserved for.
    pub role: Arc<str>,
    /// The principal that made a dynamic reservation.
    pub principal: Option<Arc<str>>,
    /// Labels; reservations with different labels never merge.
    pub labels: Vec<(String, Option<String>)>,
}

impl ReservationInfo {
    /// A static reservation for `role`.
    pub fn new_static(role: &str) -> ReservationInfo {
        ReservationInfo {
            kind: ReservationKind::Static,
            role: Arc::from(role),
            principal: None,
            labels: Vec::new(),
        }
    }

    /// A dynamic reservation for `role`, optionally by `principal`.
    pub fn new_dynamic(role: &str, principal: Option<&str>) -> ReservationInfo {
        ReservationInfo {
            kind: ReservationKind::Dynamic,
            role: Arc::from(role),
            principal: principal.map(Arc::from),
            labels: Vec::new(),
        }
    }
}

/// A reservation stack: empty means unreserved (role `*`); the last element is the
/// current owner.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ReservationStack(Option<Arc<Vec<ReservationInfo>>>);

impl ReservationStack {
    /// The empty (unreserved) stack.
    pub const UNRESERVED: ReservationStack = ReservationStack(None);

    /// A stack from bottom to top.
    pub fn new(stack: Vec<ReservationInfo>) -> ReservationStack {
        if stack.is_empty() {
            ReservationStack(None)
        } else {
            ReservationStack(Some(Arc::new(stack)))
        }
    }

    /// The reservations, bottom first.
    pub fn as_slice(&self) -> &[ReservationInfo] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }

    /// True when unreserved.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The current owner's role, `None` when unreserved.
    pub fn role(&self) -> Option<&str> {
        self.as_slice().last().map(|r| &*r.role)
    }

    /// True for a refined stack (more than one reservation).
    pub fn is_refined(&self) -> bool {
        self.as_slice().len() > 1
    }

    /// Pushes a refinement on top.
    pub fn push(&self, r: ReservationInfo) -> ReservationStack {
        let mut v = self.as_slice().to_vec();
        v.push(r);
        ReservationStack::new(v)
    }

    /// Pops the top reservation, returning the resources to the previous owner.
    pub fn pop(&self) -> ReservationStack {
        let s = self.as_slice();
        ReservationStack::new(s[..s.len().saturating_sub(1)].to_vec())
    }
}

/// Where a disk comes from.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum DiskSourceKind {
    /// A directory on a shared filesystem; divisible.
    Path,
    /// A whole mounted filesystem; indivisible (never chopped, only used whole).
    Mount,
}

/// `DiskInfo.Source`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct DiskSource {
    /// PATH or MOUNT.
    pub kind: DiskSourceKind,
    /// The root directory, if given.
    pub root: Option<String>,
}

/// Access mode of a volume.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum VolumeMode {
    /// Read-write.
    Rw,
    /// Read-only.
    Ro,
}

/// `DiskInfo`: source, persistence and volume of a disk resource.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct DiskInfo {
    /// PATH or MOUNT; `None` is the agent's root disk.
    pub source: Option<DiskSource>,
    /// Persistence id of a persistent volume.
    pub persistence_id: Option<String>,
    /// Principal that created the volume.
    pub persistence_principal: Option<String>,
    /// Container path of the volume.
    pub volume_path: Option<String>,
    /// Volume mode (only meaningful with a path).
    pub volume_mode: Option<VolumeMode>,
}

impl DiskInfo {
    fn is_atomic(&self) -> bool {
        self.persistence_id.is_some()
            || matches!(&self.source, Some(s) if s.kind == DiskSourceKind::Mount)
    }

    fn is_mount(&self) -> bool {
        matches!(&self.source, Some(s) if s.kind == DiskSourceKind::Mount)
    }

    /// True for a disk from a MOUNT source (indivisible).
    pub fn is_mount_source(&self) -> bool {
        self.is_mount()
    }
}

// ---------------------------------------------------------------------------------
// Resource
// ---------------------------------------------------------------------------------

/// One resource entry (`message Resource`).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Resource {
    /// The name.
    pub name: ResourceName,
    /// The value.
    pub value: Value,
    /// The reservation stack (empty = unreserved).
    pub reservations: ReservationStack,
    /// Disk info, only for disk resources.
    pub disk: Option<Arc<DiskInfo>>,
    /// Oversubscribed (`revocable{}`).
    pub revocable: bool,
    /// A shared persistent volume (`shared{}`).
    pub shared: bool,
}

impl Resource {
    /// An unreserved scalar of `milli` milli-units.
    pub fn scalar(name: ResourceName, milli: i64) -> Resource {
        Resource {
            name,
            value: Value::Scalar(milli),
            reservations: ReservationStack::UNRESERVED,
            disk: None,
            revocable: false,
            shared: false,
        }
    }

    /// Unreserved ranges.
    pub fn ranges(name: ResourceName, intervals: Vec<(u64, u64)>) -> Resource {
        Resource {
            value: Value::Ranges(Ranges::new(intervals)),
            ..Resource::scalar(name, 0)
        }
    }

    /// True when this entry is never merged nor chopped (shared, MOUNT disk or
    /// persistent volume).
    pub fn is_atomic(&self) -> bool {
        self.shared || self.disk.as_deref().is_some_and(DiskInfo::is_atomic)
    }

    /// True when [`shrink`] may cut this entry down (a non-MOUNT scalar).
    pub fn is_choppable(&self) -> bool {
        matches!(self.value, Value::Scalar(_))
            && !self.shared
            && !self.disk.as_deref().is_some_and(DiskInfo::is_mount)
    }

    /// True when unreserved.
    pub fn is_unreserved(&self) -> bool {
        self.reservations.is_empty()
    }

    /// True when reserved (its current owner is a role).
    pub fn is_reserved(&self) -> bool {
        !self.reservations.is_empty()
    }

    /// True when the value is a scalar.
    pub fn is_scalar(&self) -> bool {
        matches!(self.value, Value::Scalar(_))
    }

    /// The scalar value in milli-units, 0 for non-scalars.
    pub fn scalar_milli(&self) -> i64 {
        match self.value {
            Value::Scalar(v) => v,
            _ => 0,
        }
    }

    /// True when these resources may be offered to `role`: unreserved, or reserved to
    /// `role` or to one of its ancestors.
    pub fn is_allocatable_to(&self, role: &str) -> bool {
        match self.reservations.role() {
            None => true,
            Some(owner) => is_same_or_ancestor(owner, role),
        }
    }

    /// True for the common entry: unreserved, no disk info, neither revocable nor
    /// shared. Two plain entries' keys differ only by name and value type.
    #[inline]
    pub(crate) fn is_plain(&self) -> bool {
        self.reservations.is_empty() && self.disk.is_none() && !self.revocable && !self.shared
    }

    /// Compares everything but the value (the value too for atomic entries): equal
    /// keys are the entries Mesos adds together. Plain entries (see
    /// [`Resource::is_plain`]) skip the fields that are equal for both.
    #[inline]
    fn key_cmp(&self, other: &Resource) -> Ordering {
        if self.is_plain() && other.is_plain() {
            return self
                .name
                .cmp(&other.name)
                .then_with(|| self.value.type_rank().cmp(&other.value.type_rank()));
        }
        self.key_cmp_full(other)
    }

    /// [`Resource::key_cmp`] field by field.
    fn key_cmp_full(&self, other: &Resource) -> Ordering {
        self.name
            .cmp(&other.name)
            .then_with(|| self.value.type_rank().cmp(&other.value.type_rank()))
            .then_with(|| self.reservations.cmp(&other.reservations))
            .then_with(|| self.disk.cmp(&other.disk))
            .then_with(|| self.revocable.cmp(&other.revocable))
            .then_with(|| self.shared.cmp(&other.shared))
            .then_with(|| {
                if self.is_atomic() {
                    self.value.cmp(&other.value)
                } else {
                    Ordering::Equal
                }
            })
    }

    fn value_contains(&self, other: &Resource) -> bool {
        match (&self.value, &other.value) {
            (Value::Scalar(a), Value::Scalar(b)) => a >= b,
            (Value::Ranges(a), Value::Ranges(b)) => a.contains(b),
            (Value::Set(a), Value::Set(b)) => a.contains(b),
            _ => false,
        }
    }
}

/// True when `ancestor` is `role` or one of its ancestors (`a` for `a/b/c`).
pub fn is_same_or_ancestor(ancestor: &str, role: &str) -> bool {
    if ancestor == "*" {
        return true;
    }
    role.len() >= ancestor.len()
        && role.starts_with(ancestor)
        && (role.len() == ancestor.len() || role.as_bytes()[ancestor.len()] == b'/')
}

// ---------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------

/// A collection of resources with Mesos arithmetic (see the module documentation).
#[derive(Default, PartialEq, Eq, Hash)]
pub struct Resources {
    items: Vec<Resource>,
}

impl Clone for Resources {
    fn clone(&self) -> Resources {
        Resources {
            items: self.items.clone(),
        }
    }

    /// Reuses `self`'s buffer (the allocator recycles them in its hot loop).
    fn clone_from(&mut self, source: &Resources) {
        self.items.clone_from(&source.items);
    }
}

impl Resources {
    /// The empty collection.
    pub const fn new() -> Resources {
        Resources { items: Vec::new() }
    }

    /// Parses the text notation (see the module documentation).
    pub fn parse(text: &str) -> Result<Resources, ParseError> {
        parse::parse_resources(text)
    }

    /// Builds from entries, merging as Mesos does and dropping empty ones.
    pub fn from_vec(entries: Vec<Resource>) -> Resources {
        let mut r = Resources::new();
        for e in entries {
            r.add_resource(e);
        }
        r
    }

    /// The entries in canonical order.
    pub fn iter(&self) -> std::slice::Iter<'_, Resource> {
        self.items.iter()
    }

    /// The entries in canonical order.
    pub fn as_slice(&self) -> &[Resource] {
        &self.items
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when there is no entry.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Removes every entry, keeping the allocation.
    pub fn clear(&mut self) {
        self.items.clear();
    }

    fn find(&self, r: &Resource) -> Result<usize, usize> {
        // Entries are few (a handful per agent): a linear scan beats a binary search.
        for (i, e) in self.items.iter().enumerate() {
            match e.key_cmp(r) {
                Ordering::Less => continue,
                Ordering::Equal => return Ok(i),
                Ordering::Greater => return Err(i),
            }
        }
        Err(self.items.len())
    }

    /// Adds one entry (Mesos `operator+=` for a `Resource`). Merged scalars saturate
    /// at `i64::MAX` rather than wrap (parsed values are bounded by
    /// [`MAX_SCALAR_MILLI`], so only absurd sums reach it).
    pub fn add_resource(&mut self, r: Resource) {
        if r.value.is_empty() {
            return;
        }
        match self.find(&r) {
            Ok(i) if !r.is_atomic() => {
                let e = &mut self.items[i];
                e.value = match (&e.value, &r.value) {
                    (Value::Scalar(a), Value::Scalar(b)) => Value::Scalar(a.saturating_add(*b)),
                    (Value::Ranges(a), Value::Ranges(b)) => Value::Ranges(a.union(b)),
                    (Value::Set(a), Value::Set(b)) => Value::Set(a.union(b)),
                    _ => unreachable!("entries with equal keys have equal value types"),
                };
            }
            Ok(i) | Err(i) => self.items.insert(i, r),
        }
    }

    /// Subtracts one entry (Mesos `operator-=`): a scalar that would reach zero or go
    /// negative is dropped; atomic entries are removed only when equal.
    pub fn sub_resource(&mut self, r: &Resource) {
        if r.value.is_empty() {
            return;
        }
        let Ok(i) = self.find(r) else { return };
        let e = &mut self.items[i];
        if e.is_atomic() || e.value == r.value {
            self.items.remove(i);
            return;
        }
        let new = match (&e.value, &r.value) {
            (Value::Scalar(a), Value::Scalar(b)) => Value::Scalar(a - b),
            (Value::Ranges(a), Value::Ranges(b)) => Value::Ranges(a.difference(b)),
            (Value::Set(a), Value::Set(b)) => Value::Set(a.difference(b)),
            _ => unreachable!("entries with equal keys have equal value types"),
        };
        if new.is_empty() {
            self.items.remove(i);
        } else {
            e.value = new;
        }
    }

    /// `self += other`.
    pub fn add_assign(&mut self, other: &Resources) {
        for r in &other.items {
            self.add_resource(r.clone());
        }
    }

    /// `self -= other` (Mesos subtraction).
    pub fn sub_assign(&mut self, other: &Resources) {
        for r in &other.items {
            self.sub_resource(r);
        }
    }

    /// `self + other`.
    pub fn plus(&self, other: &Resources) -> Resources {
        let mut r = self.clone();
        r.add_assign(other);
        r
    }

    /// `self - other`.
    pub fn minus(&self, other: &Resources) -> Resources {
        let mut r = self.clone();
        r.sub_assign(other);
        r
    }

    /// True when `other` ⊆ `self`: every entry of `other` is covered by the matching
    /// entry of `self` (scalars ≥, ranges and sets superset, atomic entries by count).
    ///
    /// Both entry lists are sorted by key, so one merge walk over them finds every
    /// match (atomic entries equal to `r` are exactly the run of entries whose key
    /// equals `r`'s, since an atomic entry's key includes its value).
    pub fn contains(&self, other: &Resources) -> bool {
        let mine = &self.items;
        let items = &other.items;
        let (mut i, mut j) = (0, 0);
        while i < items.len() {
            let r = &items[i];
            // One key comparison per step: skip `self`'s smaller keys, stop at `r`'s.
            loop {
                match mine.get(j).map(|e| e.key_cmp(r)) {
                    Some(Ordering::Less) => j += 1,
                    Some(Ordering::Equal) => break,
                    _ => return false,
                }
            }
            if r.is_atomic() {
                let mut n = 1;
                while i + n < items.len() && items[i + n] == *r {
                    n += 1;
                }
                // `mine[j]` equals `r` (an atomic key covers every field).
                let have = 1 + mine[j + 1..].iter().take_while(|e| *e == r).count();
                if have < n {
                    return false;
                }
                i += n;
            } else {
                if !mine[j].value_contains(r) {
                    return false;
                }
                i += 1;
            }
        }
        true
    }

    /// [`Resources::contains`] by one lookup per entry of `other` (the definition the
    /// merge walk is tested against).
    #[cfg(test)]
    fn contains_by_lookup(&self, other: &Resources) -> bool {
        let mut i = 0;
        let items = &other.items;
        while i < items.len() {
            let r = &items[i];
            if r.is_atomic() {
                let mut n = 1;
                while i + n < items.len() && items[i + n] == *r {
                    n += 1;
                }
                let have = self.items.iter().filter(|e| *e == r).count();
                if have < n {
                    return false;
                }
                i += n;
            } else {
                match self.find(r) {
                    Ok(j) if self.items[j].value_contains(r) => {}
                    _ => return false,
                }
                i += 1;
            }
        }
        true
    }

    /// The entries for which `pred` holds.
    pub fn filter(&self, pred: impl Fn(&Resource) -> bool) -> Resources {
        Resources {
            items: self.items.iter().filter(|r| pred(r)).cloned().collect(),
        }
    }

    /// Overwrites `out` with the entries for which `pred` holds (reuses its buffer).
    pub fn filter_into(&self, out: &mut Resources, pred: impl Fn(&Resource) -> bool) {
        out.items.clear();
        out.items
            .extend(self.items.iter().filter(|r| pred(r)).cloned());
    }

    /// Keeps only the entries for which `pred` holds.
    pub fn retain(&mut self, pred: impl FnMut(&Resource) -> bool) {
        self.items.retain(pred);
    }

    /// Unreserved entries.
    pub fn unreserved(&self) -> Resources {
        self.filter(Resource::is_unreserved)
    }

    /// Reserved entries (any role).
    pub fn reserved(&self) -> Resources {
        self.filter(Resource::is_reserved)
    }

    /// Entries whose current owner is exactly `role`.
    pub fn reserved_to(&self, role: &str) -> Resources {
        self.filter(|r| r.reservations.role() == Some(role))
    }

    /// Entries that may be offered to `role`: unreserved ones plus those reserved to
    /// `role` or an ancestor (Mesos `allocatableTo`).
    pub fn allocatable_to(&self, role: &str) -> Resources {
        self.filter(|r| r.is_allocatable_to(role))
    }

    /// True when some entry may be offered to `role` (without building the set).
    pub fn any_allocatable_to(&self, role: &str) -> bool {
        self.items.iter().any(|r| r.is_allocatable_to(role))
    }

    /// Revocable entries.
    pub fn revocable(&self) -> Resources {
        self.filter(|r| r.revocable)
    }

    /// Non-revocable entries.
    pub fn non_revocable(&self) -> Resources {
        self.filter(|r| !r.revocable)
    }

    /// Shared entries.
    pub fn shared(&self) -> Resources {
        self.filter(|r| r.shared)
    }

    /// Non-shared entries.
    pub fn non_shared(&self) -> Resources {
        self.filter(|r| !r.shared)
    }

    /// Scalar entries.
    pub fn scalars(&self) -> Resources {
        self.filter(Resource::is_scalar)
    }

    /// True when any entry is revocable.
    pub fn has_revocable(&self) -> bool {
        self.items.iter().any(|r| r.revocable)
    }

    /// True when any entry is shared.
    pub fn has_shared(&self) -> bool {
        self.items.iter().any(|r| r.shared)
    }

    /// True when any entry is reserved.
    pub fn has_reserved(&self) -> bool {
        self.items.iter().any(Resource::is_reserved)
    }

    /// The sum of the scalar entries named `name`, in milli-units (saturating).
    pub fn scalar_milli(&self, name: &ResourceName) -> i64 {
        self.items
            .iter()
            .filter(|r| r.name == *name)
            .map(Resource::scalar_milli)
            .fold(0, i64::saturating_add)
    }

    /// Quantity of `name` in milli-units: scalar sum, or element count × 1000 for
    /// ranges and sets (saturating at `i64::MAX`).
    pub fn quantity_milli(&self, name: &ResourceName) -> i64 {
        self.items
            .iter()
            .filter(|r| r.name == *name)
            .map(|r| r.value.quantity_milli())
            .fold(0, i64::saturating_add)
    }

    /// Scalar quantities by name only (§1.2): reservations, revocable markers and disk
    /// info are ignored, non-scalars are skipped, identical shared copies count once.
    pub fn quantities(&self) -> ResourceQuantities {
        let mut q = ResourceQuantities::new();
        for (i, r) in self.items.iter().enumerate() {
            if let Value::Scalar(v) = r.value {
                if r.shared && i > 0 && self.items[i - 1] == *r {
                    continue;
                }
                q.add_milli(&r.name, v);
            }
        }
        q
    }

    /// [`Resources::quantities`] split three ways in one pass: all scalars,
    /// unreserved non-revocable scalars, reserved scalars (identical shared copies
    /// count once). Well-known names are summed straight into their slots.
    pub fn split_quantities(&self) -> [ResourceQuantities; 3] {
        let mut out = [
            ResourceQuantities::new(),
            ResourceQuantities::new(),
            ResourceQuantities::new(),
        ];
        let items = &self.items;
        for (i, r) in items.iter().enumerate() {
            let Value::Scalar(v) = r.value else { continue };
            if r.shared && i > 0 && items[i - 1] == *r {
                continue;
            }
            let part = if r.is_reserved() {
                2
            } else if !r.revocable {
                1
            } else {
                0
            };
            match known_slot(&r.name) {
                Some(k) => {
                    out[0].known[k] = out[0].known[k].saturating_add(v).max(0);
                    if part != 0 {
                        out[part].known[k] = out[part].known[k].saturating_add(v).max(0);
                    }
                }
                None => {
                    out[0].add_custom_milli(&r.name, v);
                    if part != 0 {
                        out[part].add_custom_milli(&r.name, v);
                    }
                }
            }
        }
        out
    }

    /// True when the summed quantities cover `q` (each name ≥; ranges and sets count
    /// elements). This is the `min_allocatable_resources` test (§2.7).
    pub fn contains_quantities(&self, q: &ResourceQuantities) -> bool {
        q.iter().all(|(n, v)| self.quantity_milli(n) >= v)
    }

    /// True when the summed quantities cover at least one of `alternatives` (one pass
    /// over the entries for all of them; the allocation loop's `allocatable()`).
    pub fn contains_any_quantities(&self, alternatives: &[ResourceQuantities]) -> bool {
        self.contains_any_quantities_with(&self.offer_facts().have, alternatives)
    }

    /// [`Resources::contains_any_quantities`] given `have`, the summed quantities of
    /// the well-known names ([`OfferFacts::have`] of these resources).
    pub fn contains_any_quantities_with(
        &self,
        have: &[i64; 5],
        alternatives: &[ResourceQuantities],
    ) -> bool {
        alternatives.iter().any(|q| {
            q.known
                .iter()
                .zip(have.iter())
                .all(|(want, got)| got >= want)
                && q.custom.iter().all(|(n, v)| self.quantity_milli(n) >= *v)
        })
    }

    /// What the allocation loop asks of an offer, in one pass over the entries (see
    /// [`OfferFacts`]).
    pub fn offer_facts(&self) -> OfferFacts {
        let mut f = OfferFacts {
            have: [0; 5],
            plain: true,
            scalars: [0; 5],
        };
        for r in &self.items {
            let Some(i) = known_slot(&r.name) else {
                f.plain = false;
                continue;
            };
            f.have[i] = f.have[i].saturating_add(r.value.quantity_milli());
            if r.shared || r.revocable || r.is_reserved() {
                f.plain = false;
            } else if let Value::Scalar(v) = r.value {
                f.scalars[i] = f.scalars[i].saturating_add(v).max(0);
            }
        }
        f
    }

    /// The same resources with every reservation removed (merging where possible).
    pub fn to_unreserved(&self) -> Resources {
        let mut out = Resources::new();
        for r in &self.items {
            let mut r = r.clone();
            r.reservations = ReservationStack::UNRESERVED;
            out.add_resource(r);
        }
        out
    }

    /// Every reservation role that owns part of these resources, with the reserved
    /// scalar quantities.
    pub fn reservation_quantities(&self) -> Vec<(Arc<str>, ResourceQuantities)> {
        let mut out: Vec<(Arc<str>, ResourceQuantities)> = Vec::new();
        for r in &self.items {
            let Some(top) = r.reservations.as_slice().last() else {
                continue;
            };
            let Value::Scalar(v) = r.value else { continue };
            match out.iter_mut().find(|(role, _)| *role == top.role) {
                Some((_, q)) => q.add_milli(&r.name, v),
                None => {
                    let mut q = ResourceQuantities::new();
                    q.add_milli(&r.name, v);
                    out.push((top.role.clone(), q));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Resources({self})")
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name.as_str())?;
        let stack = self.reservations.as_slice();
        if !stack.is_empty() {
            f.write_str("(")?;
            for (i, r) in stack.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                if r.kind == ReservationKind::Dynamic {
                    f.write_str("dyn:")?;
                }
                f.write_str(&r.role)?;
                if let Some(p) = &r.principal {
                    write!(f, "@{p}")?;
                }
                if !r.labels.is_empty() {
                    f.write_str("{")?;
                    for (j, (k, v)) in r.labels.iter().enumerate() {
                        if j > 0 {
                            f.write_str(",")?;
                        }
                        f.write_str(k)?;
                        if let Some(v) = v {
                            write!(f, "={v}")?;
                        }
                    }
                    f.write_str("}")?;
                }
            }
            f.write_str(")")?;
        }
        if let Some(d) = &self.disk {
            let mut parts: Vec<String> = Vec::new();
            if let Some(s) = &d.source {
                let kind = match s.kind {
                    DiskSourceKind::Path => "PATH",
                    DiskSourceKind::Mount => "MOUNT",
                };
                match &s.root {
                    Some(root) => parts.push(format!("{kind}:{root}")),
                    None => parts.push(kind.to_string()),
                }
            }
            if let Some(id) = &d.persistence_id {
                parts.push(format!("id={id}"));
            }
            if let Some(p) = &d.persistence_principal {
                parts.push(format!("principal={p}"));
            }
            if let Some(p) = &d.volume_path {
                parts.push(format!("path={p}"));
            }
            if let Some(m) = d.volume_mode {
                parts.push(format!(
                    "mode={}",
                    match m {
                        VolumeMode::Rw => "RW",
                        VolumeMode::Ro => "RO",
                    }
                ));
            }
            write!(f, "[{}]", parts.join(","))?;
        }
        if self.revocable {
            f.write_str("{REV}")?;
        }
        if self.shared {
            f.write_str("<SHARED>")?;
        }
        f.write_str(":")?;
        match &self.value {
            Value::Scalar(v) => write_milli(f, *v),
            Value::Ranges(r) => {
                f.write_str("[")?;
                for (i, (b, e)) in r.intervals().iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{b}-{e}")?;
                }
                f.write_str("]")
            }
            Value::Set(s) => {
                f.write_str("{")?;
                for (i, item) in s.items().iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    f.write_str(item)?;
                }
                f.write_str("}")
            }
        }
    }
}

/// Writes milli-units as a decimal with at most three fraction digits (`1500` → `1.5`).
pub fn write_milli(f: &mut impl fmt::Write, v: i64) -> fmt::Result {
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    let (int, frac) = (a / 1000, a % 1000);
    if frac == 0 {
        write!(f, "{sign}{int}")
    } else {
        let s = format!("{frac:03}");
        write!(f, "{sign}{int}.{}", s.trim_end_matches('0'))
    }
}

// ---------------------------------------------------------------------------------
// Quantities and limits
// ---------------------------------------------------------------------------------

/// The well-known names in their canonical order (slots of [`ResourceQuantities`]).
static KNOWN: [ResourceName; 5] = [
    ResourceName::Cpus,
    ResourceName::Mem,
    ResourceName::Disk,
    ResourceName::Gpus,
    ResourceName::Ports,
];

/// The slot of a well-known name in [`ResourceQuantities`] (and the allocator's
/// filter quantities): its place in `KNOWN`.
#[inline]
pub(crate) fn known_slot(name: &ResourceName) -> Option<usize> {
    match name {
        ResourceName::Cpus => Some(0),
        ResourceName::Mem => Some(1),
        ResourceName::Disk => Some(2),
        ResourceName::Gpus => Some(3),
        ResourceName::Ports => Some(4),
        ResourceName::Custom(_) => None,
    }
}

/// Facts about a set of resources that the allocation loop needs for each offer,
/// gathered in one pass ([`Resources::offer_facts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfferFacts {
    /// Summed quantities of cpus, mem, disk, gpus and ports (scalar values, range
    /// and set elements × 1000): what `min_allocatable_resources` is checked against.
    pub have: [i64; 5],
    /// Every entry is unreserved, non-revocable, not shared and of a well-known
    /// name: no capability strips anything, and the scalar quantities are
    /// [`OfferFacts::scalar_quantities`].
    pub plain: bool,
    /// Summed scalar values of the well-known names (meaningful when `plain`).
    pub scalars: [i64; 5],
}

impl OfferFacts {
    /// The scalar quantities of plain resources: [`Resources::quantities`], which for
    /// them is also the unreserved non-revocable part of
    /// [`Resources::split_quantities`] (and the reserved part is empty).
    pub fn scalar_quantities(&self) -> ResourceQuantities {
        ResourceQuantities {
            known: self.scalars,
            custom: Vec::new(),
        }
    }
}

/// Quantities keyed by name only (Mesos `ResourceQuantities`): every stored quantity
/// positive, iterated in name order. Subtraction clamps at zero and drops the name;
/// addition saturates at `i64::MAX` (parsed values are bounded by
/// [`MAX_SCALAR_MILLI`], so only sums over thousands of maximal agents reach it).
///
/// Well-known names live in a fixed array (no allocation, O(1) updates: this type sits
/// in the allocator's hot loop); custom names in a small sorted vector.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct ResourceQuantities {
    /// cpus, mem, disk, gpus, ports; 0 means absent.
    known: [i64; 5],
    /// Custom names, sorted, positive.
    custom: Vec<(ResourceName, i64)>,
}

impl ResourceQuantities {
    /// No quantity.
    pub const fn new() -> ResourceQuantities {
        ResourceQuantities {
            known: [0; 5],
            custom: Vec::new(),
        }
    }

    /// Parses `cpus:0.01;mem:32` (names and scalar values only).
    pub fn parse(text: &str) -> Result<ResourceQuantities, ParseError> {
        parse::parse_quantities(text)
    }

    /// Builds from (name, milli-units) pairs, summing duplicates.
    pub fn from_pairs<I: IntoIterator<Item = (ResourceName, i64)>>(pairs: I) -> Self {
        let mut q = ResourceQuantities::new();
        for (n, v) in pairs {
            q.add_milli(&n, v);
        }
        q
    }

    /// The quantity of `name` in milli-units (0 when absent).
    pub fn get(&self, name: &ResourceName) -> i64 {
        match known_slot(name) {
            Some(i) => self.known[i],
            None => self
                .custom
                .iter()
                .find(|(n, _)| n == name)
                .map_or(0, |(_, v)| *v),
        }
    }

    /// The (name, milli-units) pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&ResourceName, i64)> + '_ {
        KNOWN
            .iter()
            .zip(self.known.iter())
            .filter(|(_, v)| **v > 0)
            .map(|(n, v)| (n, *v))
            .chain(self.custom.iter().map(|(n, v)| (n, *v)))
    }

    /// True when every quantity is zero.
    pub fn is_empty(&self) -> bool {
        self.known.iter().all(|v| *v == 0) && self.custom.is_empty()
    }

    /// Adds `v` milli-units of `name` (negative subtracts); a result ≤ 0 removes the
    /// name, and the sum saturates at `i64::MAX` instead of wrapping.
    #[inline]
    pub fn add_milli(&mut self, name: &ResourceName, v: i64) {
        match known_slot(name) {
            Some(i) => self.known[i] = self.known[i].saturating_add(v).max(0),
            None => self.add_custom_milli(name, v),
        }
    }

    /// [`ResourceQuantities::add_milli`] for a custom name (kept out of line so the
    /// well-known case inlines).
    fn add_custom_milli(&mut self, name: &ResourceName, v: i64) {
        match self.custom.binary_search_by(|(n, _)| n.cmp(name)) {
            Ok(i) => {
                self.custom[i].1 = self.custom[i].1.saturating_add(v);
                if self.custom[i].1 <= 0 {
                    self.custom.remove(i);
                }
            }
            Err(i) => {
                if v > 0 {
                    self.custom.insert(i, (name.clone(), v));
                }
            }
        }
    }

    /// `self += other`, saturating at `i64::MAX` per name.
    #[inline]
    pub fn add_assign(&mut self, other: &ResourceQuantities) {
        for (a, b) in self.known.iter_mut().zip(other.known.iter()) {
            *a = a.saturating_add(*b);
        }
        for (n, v) in &other.custom {
            self.add_milli(n, *v);
        }
    }

    /// `self -= other`, clamping at zero (names that reach zero are dropped).
    pub fn sub_assign(&mut self, other: &ResourceQuantities) {
        for (a, b) in self.known.iter_mut().zip(other.known.iter()) {
            *a = a.saturating_sub(*b).max(0);
        }
        for (n, v) in &other.custom {
            if let Ok(i) = self.custom.binary_search_by(|(m, _)| m.cmp(n)) {
                self.custom[i].1 = self.custom[i].1.saturating_sub(*v);
                if self.custom[i].1 <= 0 {
                    self.custom.remove(i);
                }
            }
        }
    }

    /// `self + other`.
    pub fn plus(&self, other: &ResourceQuantities) -> ResourceQuantities {
        let mut q = self.clone();
        q.add_assign(other);
        q
    }

    /// `self - other`, clamped at zero.
    pub fn minus(&self, other: &ResourceQuantities) -> ResourceQuantities {
        let mut q = self.clone();
        q.sub_assign(other);
        q
    }

    /// True when every quantity of `other` is ≤ the one here.
    pub fn contains(&self, other: &ResourceQuantities) -> bool {
        other.iter().all(|(n, v)| self.get(n) >= v)
    }

    /// The dominant share of these quantities against `total`: the maximum over names
    /// of `self / total`, skipping names in `excluded` and names whose total is zero
    /// (§2.3). The sorters call this on every allocation.
    pub fn dominant_share(&self, total: &ResourceQuantities, excluded: &[ResourceName]) -> f64 {
        let mut share = 0.0f64;
        for (i, name) in KNOWN.iter().enumerate() {
            let (v, t) = (self.known[i], total.known[i]);
            if v > 0 && t > 0 && (excluded.is_empty() || !excluded.contains(name)) {
                share = share.max(v as f64 / t as f64);
            }
        }
        for (name, v) in &self.custom {
            let t = total.get(name);
            if t > 0 && !excluded.contains(name) {
                share = share.max(*v as f64 / t as f64);
            }
        }
        share
    }
}

impl fmt::Display for ResourceQuantities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (n, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            write!(f, "{n}:")?;
            write_milli(f, v)?;
        }
        Ok(())
    }
}

impl fmt::Debug for ResourceQuantities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Quantities({self})")
    }
}

/// Upper limits by name (Mesos `ResourceLimits`): an absent name is unlimited, a
/// present name may be zero.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct ResourceLimits(Vec<(ResourceName, i64)>);

impl ResourceLimits {
    /// No limit on anything.
    pub const fn unlimited() -> ResourceLimits {
        ResourceLimits(Vec::new())
    }

    /// Parses `cpus:1;mem:512` (zero allowed).
    pub fn parse(text: &str) -> Result<ResourceLimits, ParseError> {
        let pairs = parse::parse_pairs(text)?;
        Ok(ResourceLimits::from_pairs(pairs))
    }

    /// Builds from (name, milli-units) pairs; a repeated name keeps the last value,
    /// negative values become zero.
    pub fn from_pairs<I: IntoIterator<Item = (ResourceName, i64)>>(pairs: I) -> Self {
        let mut v: Vec<(ResourceName, i64)> = Vec::new();
        for (n, x) in pairs {
            match v.binary_search_by(|(m, _)| m.cmp(&n)) {
                Ok(i) => v[i].1 = x.max(0),
                Err(i) => v.insert(i, (n, x.max(0))),
            }
        }
        ResourceLimits(v)
    }

    /// The limit of `name`, `None` when unlimited.
    pub fn get(&self, name: &ResourceName) -> Option<i64> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// The limited (name, milli-units) pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&ResourceName, i64)> + '_ {
        self.0.iter().map(|(n, v)| (n, *v))
    }

    /// True when nothing is limited.
    pub fn is_unlimited(&self) -> bool {
        self.0.is_empty()
    }

    /// `limits - q` per limited name, clamped at zero (names stay limited).
    pub fn minus(&self, q: &ResourceQuantities) -> ResourceLimits {
        ResourceLimits(
            self.0
                .iter()
                .map(|(n, v)| (n.clone(), (v - q.get(n)).max(0)))
                .collect(),
        )
    }
}

impl From<ResourceQuantities> for ResourceLimits {
    fn from(q: ResourceQuantities) -> ResourceLimits {
        ResourceLimits(q.iter().map(|(n, v)| (n.clone(), v)).collect())
    }
}

impl fmt::Display for ResourceLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (n, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            write!(f, "{n}:")?;
            write_milli(f, *v)?;
        }
        Ok(())
    }
}

impl fmt::Debug for ResourceLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Limits({self})")
    }
}

// ---------------------------------------------------------------------------------
// Shrinking (§2.6)
// ---------------------------------------------------------------------------------

/// Mesos `shrinkResources(resources, ResourceQuantities)`: visits the entries in a
/// random order drawn from `rng`; an entry is taken whole when it fits in what is left
/// of `target`, chopped down when it is a choppable scalar, dropped otherwise (MOUNT
/// disks, non-scalars). Names absent from `target` are dropped.
pub fn shrink<R: Rng + ?Sized>(
    resources: &Resources,
    target: &ResourceQuantities,
    rng: &mut R,
) -> Resources {
    let mut left = QuantityBudget(target.clone());
    shrink_with(resources, rng, &mut left)
}

/// Mesos `shrinkResources(resources, ResourceLimits)`: like [`shrink`], but names
/// absent from `limits` are unlimited and kept whole.
pub fn shrink_to_limits<R: Rng + ?Sized>(
    resources: &Resources,
    limits: &ResourceLimits,
    rng: &mut R,
) -> Resources {
    if limits.is_unlimited() {
        return resources.clone();
    }
    let mut left = LimitBudget(limits.clone());
    shrink_with(resources, rng, &mut left)
}

/// What is left of a shrink target.
trait Budget {
    /// The budget of `name`: `None` drops the entry, `i64::MAX` is unlimited.
    fn get(&self, name: &ResourceName) -> Option<i64>;
    /// Takes `used` milli-units of `name` from the budget.
    fn consume(&mut self, name: &ResourceName, used: i64);
}

struct QuantityBudget(ResourceQuantities);

impl Budget for QuantityBudget {
    fn get(&self, name: &ResourceName) -> Option<i64> {
        let v = self.0.get(name);
        (v > 0).then_some(v)
    }
    fn consume(&mut self, name: &ResourceName, used: i64) {
        self.0.add_milli(name, -used);
    }
}

struct LimitBudget(ResourceLimits);

impl Budget for LimitBudget {
    fn get(&self, name: &ResourceName) -> Option<i64> {
        match self.0.get(name) {
            None => Some(i64::MAX),
            Some(v) if v > 0 => Some(v),
            Some(_) => None,
        }
    }
    fn consume(&mut self, name: &ResourceName, used: i64) {
        if let Some(e) = self.0 .0.iter_mut().find(|(n, _)| n == name) {
            e.1 = (e.1 - used).max(0);
        }
    }
}

fn shrink_with<R: Rng + ?Sized>(
    resources: &Resources,
    rng: &mut R,
    budget: &mut dyn Budget,
) -> Resources {
    let mut order: Vec<usize> = (0..resources.items.len()).collect();
    if order.len() > 1 {
        order.shuffle(rng);
    }
    let mut out = Resources::new();
    for i in order {
        let r = &resources.items[i];
        let Some(b) = budget.get(&r.name) else {
            continue;
        };
        let Value::Scalar(v) = r.value else {
            // Non-scalars only survive an unlimited budget.
            if b == i64::MAX {
                out.add_resource(r.clone());
            }
            continue;
        };
        if v <= b {
            budget.consume(&r.name, v);
            out.add_resource(r.clone());
        } else if r.is_choppable() {
            budget.consume(&r.name, b);
            let mut c = r.clone();
            c.value = Value::Scalar(b);
            out.add_resource(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------------
// Parse errors
// ---------------------------------------------------------------------------------

/// Why a resource text did not parse.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ParseErrorKind {
    /// A term without `:` before its value.
    #[error("expected `:` between name and value")]
    MissingColon,
    /// A term with no name.
    #[error("empty resource name")]
    EmptyName,
    /// A character that may not appear here.
    #[error("unexpected character `{0}`")]
    Unexpected(char),
    /// An opening bracket without its closing one.
    #[error("missing closing `{0}`")]
    Unclosed(char),
    /// A value that is not a finite decimal number.
    #[error("invalid scalar value")]
    InvalidScalar,
    /// A negative scalar.
    #[error("negative scalar value")]
    NegativeScalar,
    /// A fractional number of gpus.
    #[error("gpus must be a whole number")]
    FractionalGpus,
    /// A malformed range.
    #[error("invalid range (expected `begin-end` with begin <= end)")]
    InvalidRange,
    /// An empty role, principal, label or set item.
    #[error("empty {0}")]
    Empty(&'static str),
    /// An unknown item inside `[...]` disk info.
    #[error("unknown disk item (expected PATH, MOUNT, id=, principal=, path= or mode=)")]
    UnknownDiskItem,
    /// An unknown marker inside `{...}` after the reservation.
    #[error("unknown marker (expected {{REV}})")]
    UnknownMarker,
    /// A quantity list that names a non-scalar value.
    #[error("quantities must be scalars")]
    NotScalar,
    /// A scalar above [`MAX_SCALAR_MILLI`] (10^12 units).
    #[error("scalar value too large (at most 1000000000000)")]
    ScalarTooLarge,
    /// A term that brings the scalar total of its name in the text above
    /// [`MAX_SCALAR_MILLI`] (repeated names, or several reservations of one name).
    #[error("total of this resource name too large (at most 1000000000000)")]
    TotalTooLarge,
}

/// A resource text that did not parse: what, where (1-based column in the whole
/// input, counted in characters) and the offending term.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("column {column}: {kind} in `{token}`")]
pub struct ParseError {
    /// 1-based column (characters) of the problem in the input.
    pub column: usize,
    /// The term being parsed (`name...:value`).
    pub token: String,
    /// What went wrong.
    pub kind: ParseErrorKind,
}

mod parse {
    //! Hand-written parser of the resource text notation.

    use super::*;

    const SPECIAL: &[char] = &[
        '(', ')', '[', ']', '{', '}', '<', '>', ':', ';', ',', '@', '=', '|',
    ];

    struct Cursor<'a> {
        chars: Vec<char>,
        pos: usize,
        /// Column (0-based, characters) of `chars[0]` in the whole input.
        base: usize,
        token: &'a str,
    }

    impl<'a> Cursor<'a> {
        /// A cursor at the start of `term`, which starts at column `col` of the input.
        fn new(col: usize, term: &'a str) -> Self {
            Cursor {
                chars: term.chars().collect(),
                pos: 0,
                base: col,
                token: term,
            }
        }

        fn err(&self, kind: ParseErrorKind) -> ParseError {
            self.err_at(self.pos, kind)
        }

        fn err_at(&self, pos: usize, kind: ParseErrorKind) -> ParseError {
            ParseError {
                column: self.base + pos + 1,
                token: self.token.trim().to_string(),
                kind,
            }
        }

        fn skip_ws(&mut self) {
            while self.pos < self.chars.len() && self.chars[self.pos].is_whitespace() {
                self.pos += 1;
            }
        }

        fn peek(&self) -> Option<char> {
            self.chars.get(self.pos).copied()
        }

        fn eat(&mut self, c: char) -> bool {
            self.skip_ws();
            if self.peek() == Some(c) {
                self.pos += 1;
                true
            } else {
                false
            }
        }

        fn expect(&mut self, c: char) -> Result<(), ParseError> {
            if self.eat(c) {
                Ok(())
            } else {
                match self.peek() {
                    Some(x) => Err(self.err(ParseErrorKind::Unexpected(x))),
                    None => Err(self.err(ParseErrorKind::Unclosed(c))),
                }
            }
        }

        fn starts_with(&self, s: &str) -> bool {
            s.chars()
                .enumerate()
                .all(|(k, c)| self.chars.get(self.pos + k) == Some(&c))
        }

        /// A word: everything up to whitespace or a special character.
        fn word(&mut self, what: &'static str) -> Result<String, ParseError> {
            self.skip_ws();
            let start = self.pos;
            while let Some(c) = self.peek() {
                if c.is_whitespace() || SPECIAL.contains(&c) {
                    break;
                }
                self.pos += 1;
            }
            if start == self.pos {
                return Err(match self.peek() {
                    Some(c) if SPECIAL.contains(&c) && what == "resource name" => {
                        self.err(ParseErrorKind::EmptyName)
                    }
                    Some(c) => self.err(ParseErrorKind::Unexpected(c)),
                    None => self.err(ParseErrorKind::Empty(what)),
                });
            }
            Ok(self.chars[start..self.pos].iter().collect())
        }

        /// A word that may contain `/` and `:` (roots and paths inside `[...]`).
        fn path_word(&mut self, what: &'static str) -> Result<String, ParseError> {
            self.skip_ws();
            let start = self.pos;
            while let Some(c) = self.peek() {
                if c.is_whitespace() || (SPECIAL.contains(&c) && c != ':') {
                    break;
                }
                self.pos += 1;
            }
            if start == self.pos {
                return Err(self.err(ParseErrorKind::Empty(what)));
            }
            Ok(self.chars[start..self.pos].iter().collect())
        }

        fn number_text(&mut self) -> String {
            self.skip_ws();
            let start = self.pos;
            while let Some(c) = self.peek() {
                if c.is_ascii_alphanumeric() || c == '.' || c == '+' || c == '-' {
                    self.pos += 1;
                } else {
                    break;
                }
            }
            self.chars[start..self.pos].iter().collect()
        }

        fn at_end(&mut self) -> bool {
            self.skip_ws();
            self.pos >= self.chars.len()
        }
    }

    /// Splits `text` at top-level `;` (outside brackets), returning (start column, term).
    fn split_terms(text: &str) -> Vec<(usize, &str)> {
        let mut out = Vec::new();
        let mut depth = 0i32;
        let mut start_byte = 0;
        let mut start_col = 0;
        for (col, (byte, c)) in text.char_indices().enumerate() {
            match c {
                '(' | '[' | '{' | '<' => depth += 1,
                ')' | ']' | '}' | '>' => depth -= 1,
                ';' if depth <= 0 => {
                    out.push((start_col, &text[start_byte..byte]));
                    start_byte = byte + 1;
                    start_col = col + 1;
                }
                _ => {}
            }
        }
        out.push((start_col, &text[start_byte..]));
        out
    }

    /// The non-blank terms of `text` (a blank text or a trailing `;` adds none).
    fn terms(text: &str) -> impl Iterator<Item = (usize, &str)> {
        split_terms(text)
            .into_iter()
            .filter(|(_, term)| !term.trim().is_empty())
    }

    pub(super) fn parse_resources(text: &str) -> Result<Resources, ParseError> {
        let mut out = Resources::new();
        for (col, term) in terms(text) {
            let r = parse_term(col, term)?;
            if let Value::Scalar(v) = r.value {
                check_total(out.scalar_milli(&r.name), v, col, term)?;
            }
            out.add_resource(r);
        }
        Ok(out)
    }

    /// Bounds the running total of one name in a text by [`MAX_SCALAR_MILLI`], as each
    /// scalar is: a peer repeating a name must not reach the `i64` limit either.
    fn check_total(before: i64, v: i64, col: usize, term: &str) -> Result<(), ParseError> {
        if before.saturating_add(v) <= MAX_SCALAR_MILLI {
            return Ok(());
        }
        let indent = term.chars().take_while(|c| c.is_whitespace()).count();
        Err(ParseError {
            column: col + indent + 1,
            token: term.trim().to_string(),
            kind: ParseErrorKind::TotalTooLarge,
        })
    }

    fn parse_scalar(c: &mut Cursor<'_>) -> Result<i64, ParseError> {
        let start = {
            c.skip_ws();
            c.pos
        };
        let t = c.number_text();
        let v: f64 = t
            .parse()
            .map_err(|_| c.err_at(start, ParseErrorKind::InvalidScalar))?;
        if !v.is_finite() {
            return Err(c.err_at(start, ParseErrorKind::InvalidScalar));
        }
        if v < 0.0 {
            return Err(c.err_at(start, ParseErrorKind::NegativeScalar));
        }
        // `to_milli` saturates huge values at `i64::MAX`, far above the bound.
        let m = to_milli(v);
        if m > MAX_SCALAR_MILLI {
            return Err(c.err_at(start, ParseErrorKind::ScalarTooLarge));
        }
        Ok(m)
    }

    fn parse_term(col: usize, term: &str) -> Result<Resource, ParseError> {
        let mut c = Cursor::new(col, term);
        let name = c.word("resource name")?;
        let name = ResourceName::new(&name);
        let mut reservations = ReservationStack::UNRESERVED;
        let mut disk = None;
        let mut revocable = false;
        let mut shared = false;
        c.skip_ws();
        if c.eat('(') {
            reservations = parse_reservations(&mut c)?;
            c.expect(')')?;
        }
        c.skip_ws();
        if c.eat('[') {
            disk = Some(Arc::new(parse_disk(&mut c)?));
            c.expect(']')?;
        }
        c.skip_ws();
        if c.peek() == Some('{') {
            if c.starts_with("{REV}") {
                c.pos += 5;
                revocable = true;
            } else {
                return Err(c.err(ParseErrorKind::UnknownMarker));
            }
        }
        c.skip_ws();
        if c.peek() == Some('<') {
            if c.starts_with("<SHARED>") {
                c.pos += 8;
                shared = true;
            } else {
                return Err(c.err(ParseErrorKind::UnknownMarker));
            }
        }
        c.skip_ws();
        if !c.eat(':') {
            return Err(match c.peek() {
                Some(x) if x != ':' && !x.is_whitespace() && c.pos > 0 && !SPECIAL.contains(&x) => {
                    c.err(ParseErrorKind::MissingColon)
                }
                Some(x) => c.err(ParseErrorKind::Unexpected(x)),
                None => c.err(ParseErrorKind::MissingColon),
            });
        }
        c.skip_ws();
        let value = match c.peek() {
            Some('[') => {
                c.pos += 1;
                let mut iv = Vec::new();
                if !c.eat(']') {
                    loop {
                        c.skip_ws();
                        let at = c.pos;
                        let b = c.number_text();
                        let (b, e) = match b.split_once('-') {
                            Some((b, e)) => (b.to_string(), e.to_string()),
                            None => {
                                // `begin - end` with spaces.
                                if !c.eat('-') {
                                    return Err(c.err_at(at, ParseErrorKind::InvalidRange));
                                }
                                (b, c.number_text())
                            }
                        };
                        let b: u64 = b
                            .trim()
                            .parse()
                            .map_err(|_| c.err_at(at, ParseErrorKind::InvalidRange))?;
                        let e: u64 = e
                            .trim()
                            .parse()
                            .map_err(|_| c.err_at(at, ParseErrorKind::InvalidRange))?;
                        if b > e {
                            return Err(c.err_at(at, ParseErrorKind::InvalidRange));
                        }
                        iv.push((b, e));
                        if c.eat(',') {
                            continue;
                        }
                        c.expect(']')?;
                        break;
                    }
                }
                Value::Ranges(Ranges::new(iv))
            }
            Some('{') => {
                c.pos += 1;
                let mut items = Vec::new();
                if !c.eat('}') {
                    loop {
                        items.push(c.word("set item")?);
                        if c.eat(',') {
                            continue;
                        }
                        c.expect('}')?;
                        break;
                    }
                }
                Value::Set(Set::new(items))
            }
            _ => {
                let at = c.pos;
                let v = parse_scalar(&mut c)?;
                if name == ResourceName::Gpus && v % MILLI != 0 {
                    return Err(c.err_at(at, ParseErrorKind::FractionalGpus));
                }
                Value::Scalar(v)
            }
        };
        if !c.at_end() {
            let x = c.peek().unwrap_or(' ');
            return Err(c.err(ParseErrorKind::Unexpected(x)));
        }
        Ok(Resource {
            name,
            value,
            reservations,
            disk,
            revocable,
            shared,
        })
    }

    fn parse_reservations(c: &mut Cursor<'_>) -> Result<ReservationStack, ParseError> {
        c.skip_ws();
        if c.peek() == Some('*') {
            let save = c.pos;
            c.pos += 1;
            c.skip_ws();
            if c.peek() == Some(')') {
                return Ok(ReservationStack::UNRESERVED);
            }
            c.pos = save;
        }
        let mut stack = Vec::new();
        loop {
            c.skip_ws();
            let kind = if c.starts_with("dyn:") {
                c.pos += 4;
                ReservationKind::Dynamic
            } else {
                ReservationKind::Static
            };
            let role = c.word("role")?;
            let mut info = ReservationInfo {
                kind,
                role: Arc::from(role.as_str()),
                principal: None,
                labels: Vec::new(),
            };
            if c.eat('@') {
                info.principal = Some(Arc::from(c.word("principal")?.as_str()));
            }
            if c.eat('{') {
                loop {
                    let k = c.word("label")?;
                    let v = if c.eat('=') {
                        Some(c.word("label value")?)
                    } else {
                        None
                    };
                    info.labels.push((k, v));
                    if c.eat(',') {
                        continue;
                    }
                    c.expect('}')?;
                    break;
                }
            }
            stack.push(info);
            if c.eat(',') {
                continue;
            }
            break;
        }
        Ok(ReservationStack::new(stack))
    }

    fn parse_disk(c: &mut Cursor<'_>) -> Result<DiskInfo, ParseError> {
        let mut d = DiskInfo::default();
        c.skip_ws();
        if c.peek() == Some(']') {
            return Ok(d);
        }
        loop {
            c.skip_ws();
            let at = c.pos;
            let key = c.word("disk item")?;
            match key.as_str() {
                "PATH" | "MOUNT" => {
                    let kind = if key == "PATH" {
                        DiskSourceKind::Path
                    } else {
                        DiskSourceKind::Mount
                    };
                    let root = if c.eat(':') {
                        Some(c.path_word("disk root")?)
                    } else {
                        None
                    };
                    d.source = Some(DiskSource { kind, root });
                }
                "id" | "principal" | "path" | "mode" => {
                    c.expect('=')?;
                    let v = c.path_word("disk item value")?;
                    match key.as_str() {
                        "id" => d.persistence_id = Some(v),
                        "principal" => d.persistence_principal = Some(v),
                        "path" => d.volume_path = Some(v),
                        _ => {
                            d.volume_mode = Some(match v.as_str() {
                                "RW" => VolumeMode::Rw,
                                "RO" => VolumeMode::Ro,
                                _ => return Err(c.err_at(at, ParseErrorKind::UnknownDiskItem)),
                            })
                        }
                    }
                }
                _ => return Err(c.err_at(at, ParseErrorKind::UnknownDiskItem)),
            }
            if c.eat(',') {
                continue;
            }
            break;
        }
        Ok(d)
    }

    /// `name:value` pairs separated by `;` (scalars only, zero allowed).
    pub(super) fn parse_pairs(text: &str) -> Result<Vec<(ResourceName, i64)>, ParseError> {
        terms(text)
            .map(|(col, term)| parse_pair(col, term))
            .collect()
    }

    /// One `name:value` term of [`parse_pairs`].
    fn parse_pair(col: usize, term: &str) -> Result<(ResourceName, i64), ParseError> {
        let mut c = Cursor::new(col, term);
        let name = c.word("resource name")?;
        if !c.eat(':') {
            return Err(match c.peek() {
                Some(x) if SPECIAL.contains(&x) => c.err(ParseErrorKind::Unexpected(x)),
                _ => c.err(ParseErrorKind::MissingColon),
            });
        }
        c.skip_ws();
        if matches!(c.peek(), Some('[') | Some('{')) {
            return Err(c.err(ParseErrorKind::NotScalar));
        }
        let v = parse_scalar(&mut c)?;
        if !c.at_end() {
            let x = c.peek().unwrap_or(' ');
            return Err(c.err(ParseErrorKind::Unexpected(x)));
        }
        Ok((ResourceName::new(&name), v))
    }

    /// Quantities summed by name, each total bounded like a single scalar.
    pub(super) fn parse_quantities(text: &str) -> Result<ResourceQuantities, ParseError> {
        let mut q = ResourceQuantities::new();
        for (col, term) in terms(text) {
            let (name, v) = parse_pair(col, term)?;
            check_total(q.get(&name), v, col, term)?;
            q.add_milli(&name, v);
        }
        Ok(q)
    }
}

/// Parses `--min_allocatable_resources`: alternatives separated by `|`, each a
/// `;`-separated list of quantities (`cpus:0.01|mem:32`). Columns in errors count from
/// the start of the whole text.
pub fn parse_min_allocatable(text: &str) -> Result<Vec<ResourceQuantities>, ParseError> {
    let mut out = Vec::new();
    let mut col = 0;
    for part in text.split('|') {
        let q = ResourceQuantities::parse(part).map_err(|mut e| {
            e.column += col;
            e
        })?;
        if !q.is_empty() {
            out.push(q);
        }
        col += part.chars().count() + 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn r(s: &str) -> Resources {
        Resources::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn an_entry_fits_in_a_cache_line() {
        // The allocator copies and scans these entries on every offer: names and
        // reservation stacks are thin pointers so that an entry stays within 64 bytes.
        assert!(std::mem::size_of::<Resource>() <= 64);
        assert_eq!(std::mem::size_of::<ResourceName>(), 16);
        assert_eq!(std::mem::size_of::<ReservationStack>(), 8);
    }

    #[test]
    fn parses_mesos_notation_and_prints_canonically() {
        let x = r("cpus(eng):2;mem:1024;ports:[31000-32000];disk(eng):100");
        assert_eq!(
            x.to_string(),
            "cpus(eng):2;mem:1024;disk(eng):100;ports:[31000-32000]"
        );
        assert_eq!(x.scalar_milli(&ResourceName::Cpus), 2000);
        assert_eq!(x.quantity_milli(&ResourceName::Ports), 1001 * 1000);
    }

    #[test]
    fn fixed_point_rounds_like_llround() {
        assert_eq!(r("cpus:1.5123").scalar_milli(&ResourceName::Cpus), 1512);
        assert_eq!(r("cpus:0.0005").scalar_milli(&ResourceName::Cpus), 1);
        assert_eq!(r("cpus:0.015;cpus:0.015").to_string(), "cpus:0.03");
    }

    #[test]
    fn round_trips_every_field() {
        let texts = [
            "cpus:2;mem:1024;disk:100;gpus:1;ports:[31000-32000,40000-40010]",
            "cpus(eng):2;cpus(dyn:eng@alice):1;cpus(eng,dyn:eng/be@bob{team=a,x}):0.5",
            "cpus{REV}:10;mem(r1){REV}:5",
            "disk(eng)[MOUNT:/mnt/a]:100;disk(eng)[PATH:/p,id=v1,principal=p,path=data,mode=RW]<SHARED>:64",
            "custom_thing:3;bits:{a,b,c}",
        ];
        for t in texts {
            let x = r(t);
            let again = r(&x.to_string());
            assert_eq!(again, x, "{t} -> {x}");
        }
    }

    #[test]
    fn merging_follows_mesos_rules() {
        // Different reservations or labels never merge.
        assert_eq!(r("cpus(a):1;cpus(a):2").len(), 1);
        assert_eq!(r("cpus(a):1;cpus(b):2").len(), 2);
        assert_eq!(r("cpus(dyn:a{k=1}):1;cpus(dyn:a{k=2}):2").len(), 2);
        assert_eq!(r("cpus:1;cpus{REV}:1").len(), 2);
        // MOUNT disks and persistent volumes are atomic.
        assert_eq!(r("disk[MOUNT:/m]:10;disk[MOUNT:/m]:10").len(), 2);
        assert_eq!(r("disk[PATH:/m]:10;disk[PATH:/m]:10").len(), 1);
        assert_eq!(r("disk(a)[id=v]:10;disk(a)[id=v]:10").len(), 2);
        // Zero is omitted.
        assert!(r("disk:0").is_empty());
    }

    #[test]
    fn subtraction_drops_what_would_go_negative() {
        let mut x = r("cpus:2;mem:100");
        x.sub_assign(&r("cpus:3;mem:40"));
        assert_eq!(x, r("mem:60"));
        let mut p = r("ports:[1-10]");
        p.sub_assign(&r("ports:[3-4,10-12]"));
        assert_eq!(p.to_string(), "ports:[1-2,5-9]");
        // Mount disks subtract only whole.
        let mut d = r("disk[MOUNT:/m]:10");
        d.sub_assign(&r("disk[MOUNT:/m]:5"));
        assert_eq!(d, r("disk[MOUNT:/m]:10"));
        d.sub_assign(&r("disk[MOUNT:/m]:10"));
        assert!(d.is_empty());
    }

    #[test]
    fn contains_is_per_entry() {
        let x = r("cpus:2;mem:100;ports:[1-10]");
        assert!(x.contains(&r("cpus:1;ports:[2-3]")));
        assert!(!x.contains(&r("cpus:1;ports:[9-11]")));
        assert!(!x.contains(&r("cpus(a):1")));
        assert!(!x.contains(&r("cpus{REV}:1")));
        assert!(x.contains(&Resources::new()));
        let s = r("disk(a)[id=v]<SHARED>:5");
        let two = s.plus(&s);
        assert!(two.contains(&s));
        assert!(!s.contains(&two));
        assert_eq!(
            two.quantities(),
            ResourceQuantities::parse("disk:5").unwrap()
        );
    }

    #[test]
    fn role_filters_include_ancestor_reservations() {
        let x = r("cpus:1;cpus(a):2;cpus(a/b):3;cpus(c):4;cpus(ab):5");
        assert_eq!(x.allocatable_to("a/b/c"), r("cpus:1;cpus(a):2;cpus(a/b):3"));
        assert_eq!(x.allocatable_to("a"), r("cpus:1;cpus(a):2"));
        assert_eq!(x.reserved_to("a"), r("cpus(a):2"));
        assert_eq!(x.unreserved(), r("cpus:1"));
        assert_eq!(r("cpus(a):1;cpus:2").to_unreserved(), r("cpus:3"));
        let refined = r("cpus(a,dyn:a/b):1");
        assert!(refined.iter().all(|e| e.reservations.is_refined()));
        assert_eq!(refined.allocatable_to("a/b"), refined);
        assert!(refined.allocatable_to("a").is_empty());
    }

    #[test]
    fn quantities_merge_by_name_only() {
        let q = r("cpus:1;cpus{REV}:2;cpus(a):3;ports:[1-5];mem:10").quantities();
        assert_eq!(q.to_string(), "cpus:6;mem:10");
        let mut a = ResourceQuantities::parse("cpus:1;mem:2").unwrap();
        a.sub_assign(&ResourceQuantities::parse("cpus:3").unwrap());
        assert_eq!(a.to_string(), "mem:2");
        assert!(r("cpus:0.015;cpus(r):0.015")
            .contains_quantities(&ResourceQuantities::parse("cpus:0.01").unwrap()));
        assert!(
            r("ports:[1-5]").contains_quantities(&ResourceQuantities::parse("ports:5").unwrap())
        );
    }

    #[test]
    fn shrink_chops_scalars_but_not_mount_disks() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let x = r("cpus:4;mem:100;disk[MOUNT:/m]:50;ports:[1-5]");
        let t = ResourceQuantities::parse("cpus:1;mem:200;disk:10").unwrap();
        assert_eq!(shrink(&x, &t, &mut rng), r("cpus:1;mem:100"));
        let l = ResourceLimits::parse("cpus:1;disk:0").unwrap();
        assert_eq!(
            shrink_to_limits(&x, &l, &mut rng),
            r("cpus:1;mem:100;ports:[1-5]")
        );
        // Two entries of one name share the target.
        let y = r("cpus:2;cpus(a):2");
        let got = shrink(&y, &ResourceQuantities::parse("cpus:3").unwrap(), &mut rng);
        assert_eq!(got.scalar_milli(&ResourceName::Cpus), 3000);
    }

    #[test]
    fn parse_errors_name_token_and_column() {
        let e = Resources::parse("cpus:2;mem 1024").unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::MissingColon);
        assert_eq!(e.token, "mem 1024");
        assert_eq!(e.column, 12);
        assert_eq!(
            e.to_string(),
            "column 12: expected `:` between name and value in `mem 1024`"
        );
        let e = Resources::parse("cpus:abc").unwrap_err();
        assert_eq!((e.kind, e.column), (ParseErrorKind::InvalidScalar, 6));
        let e = Resources::parse("cpus:-1").unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::NegativeScalar);
        let e = Resources::parse("gpus:1.5").unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::FractionalGpus);
        let e = Resources::parse("ports:[5-1]").unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::InvalidRange);
        let e = Resources::parse("cpus(eng:1").unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::Unexpected(':'));
        let e = Resources::parse("cpus{RAV}:1").unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::UnknownMarker);
        let e = Resources::parse(":1").unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::EmptyName);
        let e = parse_min_allocatable("cpus:0.01|mem:x").unwrap_err();
        assert_eq!(e.column, 15);
    }

    #[test]
    fn scalars_above_the_bound_are_rejected_where_they_stand() {
        // As an agent's `Register.resources` could arrive from a peer.
        let e = Resources::parse("cpus:1e16;mem:1").unwrap_err();
        assert_eq!(
            (&e.kind, e.column, e.token.as_str()),
            (&ParseErrorKind::ScalarTooLarge, 6, "cpus:1e16")
        );
        assert_eq!(
            e.to_string(),
            "column 6: scalar value too large (at most 1000000000000) in `cpus:1e16`"
        );
        let e = Resources::parse("cpus:1e16;cpus:1;mem:1").unwrap_err();
        assert_eq!((e.kind, e.column), (ParseErrorKind::ScalarTooLarge, 6));
        let e = Resources::parse("cpus:1;mem:1e300").unwrap_err();
        assert_eq!((e.kind, e.column), (ParseErrorKind::ScalarTooLarge, 12));
        let e = Resources::parse("disk(eng)[MOUNT:/m]:1000000000000.001").unwrap_err();
        assert_eq!((e.kind, e.column), (ParseErrorKind::ScalarTooLarge, 21));
        for (text, column) in [("mem:inf", 5), ("mem:nan", 5), ("cpus:1;mem:-inf", 12)] {
            let e = Resources::parse(text).unwrap_err();
            assert_eq!(
                (e.kind, e.column),
                (ParseErrorKind::InvalidScalar, column),
                "{text}"
            );
        }
        // The total of a name is bounded too, wherever its parts sit.
        let e = Resources::parse("cpus:1e12;cpus:0.001").unwrap_err();
        assert_eq!(
            (&e.kind, e.column, e.token.as_str()),
            (&ParseErrorKind::TotalTooLarge, 11, "cpus:0.001")
        );
        let e = Resources::parse("cpus(a):6e11; cpus(b):6e11").unwrap_err();
        assert_eq!((e.kind, e.column), (ParseErrorKind::TotalTooLarge, 15));
        let e = Resources::parse("disk[MOUNT:/a]:6e11;disk[MOUNT:/b]:6e11").unwrap_err();
        assert_eq!((e.kind, e.column), (ParseErrorKind::TotalTooLarge, 21));
        let e = ResourceQuantities::parse("mem:6e11;cpus:1;mem:6e11").unwrap_err();
        assert_eq!((e.kind, e.column), (ParseErrorKind::TotalTooLarge, 17));
        // The bound itself is accepted: 10^12 units = 10^15 milli.
        let r = Resources::parse("cpus:1000000000000;mem:1e12").unwrap();
        assert_eq!(r.scalar_milli(&ResourceName::Cpus), MAX_SCALAR_MILLI);
        assert_eq!(r.scalar_milli(&ResourceName::Mem), MAX_SCALAR_MILLI);
        // The other parse paths share the check.
        let e = ResourceQuantities::parse("cpus:1;mem:1e16").unwrap_err();
        assert_eq!((e.kind, e.column), (ParseErrorKind::ScalarTooLarge, 12));
        let e = ResourceLimits::parse("gpus:1e19").unwrap_err();
        assert_eq!((e.kind, e.column), (ParseErrorKind::ScalarTooLarge, 6));
        let e = parse_min_allocatable("cpus:0.01|foo:1e300").unwrap_err();
        assert_eq!((e.kind, e.column), (ParseErrorKind::ScalarTooLarge, 15));
    }

    #[test]
    fn ranges_of_all_of_u64_count_saturated() {
        for text in [
            "cpus:[0-18446744073709551615]",
            "ports:[0-18446744073709551615]",
        ] {
            let r = Resources::parse(text).unwrap();
            let name = &r.as_slice()[0].name;
            // 2^64 elements: one more than a u64 holds.
            let Value::Ranges(v) = &r.as_slice()[0].value else {
                panic!("{text} is not ranges")
            };
            assert_eq!(v.count(), u64::MAX);
            assert_eq!(r.quantity_milli(name), i64::MAX);
            // Merging, subtracting and summing keep to the bounds.
            let twice = r.plus(&r);
            assert_eq!(twice, r);
            assert_eq!(twice.plus(&r).quantity_milli(name), i64::MAX);
            let less = r.minus(&Resources::parse("cpus:[7-7];ports:[7-7]").unwrap());
            assert_eq!(less.quantity_milli(name), i64::MAX);
        }
        // Hand-computed counts just below saturation.
        let count = |t: &str| match &Resources::parse(t).unwrap().as_slice()[0].value {
            Value::Ranges(v) => v.count(),
            _ => unreachable!(),
        };
        assert_eq!(count("ports:[1-18446744073709551615]"), u64::MAX);
        assert_eq!(
            count("ports:[0-3,18446744073709551610-18446744073709551615]"),
            10
        );
        assert_eq!(
            count("ports:[0-18446744073709551613,18446744073709551615-18446744073709551615]"),
            u64::MAX
        );
        // 2^63 - 1 elements fit a u64 but not × 1000 in an i64.
        let r = Resources::parse("ports:[1-9223372036854775807]").unwrap();
        assert_eq!(r.quantity_milli(&ResourceName::Ports), i64::MAX);
        assert_eq!(r.offer_facts().have[4], i64::MAX);
        assert!(r.contains_quantities(&ResourceQuantities::parse("ports:1e12").unwrap()));
    }

    #[test]
    fn sums_saturate_instead_of_wrapping() {
        let cpus = ResourceName::Cpus;
        let foo = ResourceName::new("foo");
        // Scalar merge of entries built in code (the parsers never yield these).
        let mut r = Resources::from_vec(vec![Resource::scalar(cpus.clone(), i64::MAX - 1)]);
        r.add_assign(&Resources::parse("cpus:1;mem:1").unwrap());
        r.add_resource(Resource::scalar(cpus.clone(), MAX_SCALAR_MILLI));
        assert_eq!(r.scalar_milli(&cpus), i64::MAX);
        assert_eq!(r.quantity_milli(&cpus), i64::MAX);
        let [all, unreserved, reserved] = r.split_quantities();
        assert_eq!(all.get(&cpus), i64::MAX);
        assert_eq!(unreserved.get(&cpus), i64::MAX);
        assert!(reserved.is_empty());
        assert_eq!(r.offer_facts().scalars[0], i64::MAX);
        // Unmerged entries (different reservations) summed by name.
        let r = Resources::from_vec(vec![
            Resource::scalar(foo.clone(), i64::MAX),
            Resources::parse("foo(eng):1").unwrap().as_slice()[0].clone(),
        ]);
        assert_eq!(r.scalar_milli(&foo), i64::MAX);
        assert_eq!(r.quantity_milli(&foo), i64::MAX);
        assert_eq!(r.quantities().get(&foo), i64::MAX);
        // An agent at the bound, added 9,000 times, is still exact ...
        let agent = ResourceQuantities::parse("cpus:1e12;mem:1e12;foo:1e12").unwrap();
        let mut total = ResourceQuantities::new();
        for _ in 0..9_000 {
            total.add_assign(&agent);
        }
        for n in [&cpus, &ResourceName::Mem, &foo] {
            assert_eq!(total.get(n), 9_000 * MAX_SCALAR_MILLI);
        }
        // ... and 10,000 times saturates, then subtracts back down without wrapping.
        for _ in 0..1_000 {
            total.add_assign(&agent);
        }
        for n in [&cpus, &ResourceName::Mem, &foo] {
            assert_eq!(total.get(n), i64::MAX);
        }
        total.sub_assign(&agent);
        assert_eq!(total.get(&foo), i64::MAX - MAX_SCALAR_MILLI);
        let q = ResourceQuantities::from_pairs([(foo.clone(), i64::MAX), (foo.clone(), 5)]);
        assert_eq!(q.get(&foo), i64::MAX);
    }

    /// Random resource texts from a peer: pieces of the notation, huge and odd numbers
    /// and ranges. Parsing them and summing what parses never panics (overflow checks
    /// are on in tests), every parsed scalar is within the bound, and the running sums
    /// never go down (a wrap would).
    #[test]
    fn random_peer_texts_parse_and_sum_without_panicking() {
        use rand::seq::IndexedRandom;
        const NAMES: [&str; 6] = ["cpus", "mem", "disk", "gpus", "ports", "foo"];
        const NUMBERS: [&str; 16] = [
            "0",
            "1",
            "0.5",
            "1e12",
            "1e16",
            "1e300",
            "999999999999.9995",
            "1000000000000",
            "9223372036854775807",
            "18446744073709551615",
            "18446744073709551616",
            "-1",
            "inf",
            "nan",
            "1e-300",
            "",
        ];
        // Range ends in ascending order (the last is beyond u64).
        const ENDS: [&str; 8] = [
            "0",
            "7",
            "65535",
            "9223372036854775807",
            "18446744073709551613",
            "18446744073709551614",
            "18446744073709551615",
            "18446744073709551616",
        ];
        const JUNK: [&str; 14] = [
            ":", ";", "[", "]", "-", ",", "{", "}", "(", ")", "|", "{REV}", "(eng)", " ",
        ];
        let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_7e57);
        let mut total = Resources::new();
        let mut sums = ResourceQuantities::new();
        let mut parsed = 0;
        for _ in 0..4_000 {
            let mut text = String::new();
            for t in 0..rng.random_range(1..5) {
                if t > 0 {
                    text.push(';');
                }
                text.push_str(NAMES.choose(&mut rng).unwrap());
                if rng.random_bool(0.2) {
                    text.push_str("(eng)");
                }
                text.push(':');
                if rng.random_bool(0.4) {
                    text.push('[');
                    for k in 0..rng.random_range(1..4) {
                        if k > 0 {
                            text.push(',');
                        }
                        let (mut b, mut e) = (
                            rng.random_range(0..ENDS.len()),
                            rng.random_range(0..ENDS.len()),
                        );
                        if b > e && rng.random_bool(0.9) {
                            (b, e) = (e, b);
                        }
                        text.push_str(ENDS[b]);
                        text.push('-');
                        text.push_str(ENDS[e]);
                    }
                    text.push(']');
                } else {
                    text.push_str(NUMBERS.choose(&mut rng).unwrap());
                }
                if rng.random_bool(0.05) {
                    let at = rng.random_range(0..=text.len());
                    text.insert_str(at, JUNK.choose(&mut rng).unwrap());
                }
            }
            if let Ok(r) = Resources::parse(&text) {
                parsed += 1;
                for (_, v) in r.quantities().iter() {
                    assert!((0..=MAX_SCALAR_MILLI).contains(&v), "{text}: {v}");
                }
                let before = sums.clone();
                sums.add_assign(&r.quantities());
                assert!(before.iter().all(|(n, v)| sums.get(n) >= v), "{text}");
                total.add_assign(&r);
                for n in NAMES {
                    let n = ResourceName::new(n);
                    assert!(total.quantity_milli(&n) >= 0, "{text}");
                    assert!(total.scalar_milli(&n) >= 0, "{text}");
                }
                let _ = (total.split_quantities(), total.offer_facts());
                let _ = total.contains_quantities(&sums);
                let _ = total.minus(&r);
            }
            for t in [text.as_str(), &text.replace(['[', ']', '(', ')'], "")] {
                if let Ok(q) = ResourceQuantities::parse(t) {
                    assert!(q.iter().all(|(_, v)| v <= MAX_SCALAR_MILLI), "{t}");
                    sums.add_assign(&q);
                    sums.add_assign(&sums.clone());
                }
                let _ = ResourceLimits::parse(t).map(|l| l.minus(&sums));
                let _ = parse_min_allocatable(&t.replace(';', "|"));
            }
        }
        // The generator does reach the arithmetic (at least one text in 20 parses),
        // and the doubling of `sums` reaches saturation.
        assert!(parsed >= 4_000 / 20, "only {parsed} texts parsed");
        assert!(sums.iter().any(|(_, v)| v == i64::MAX), "{sums}");
    }

    #[test]
    fn min_allocatable_parses_alternatives() {
        let v = parse_min_allocatable("cpus:0.01|mem:32").unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].get(&ResourceName::Cpus), 10);
        assert_eq!(v[1].get(&ResourceName::Mem), 32000);
    }

    /// Entries the merge-walk `contains` is checked against: scalars, ranges and sets,
    /// reserved, revocable, MOUNT disks and (shared) persistent volumes, with repeats.
    const PIECES: [&str; 16] = [
        "cpus:1",
        "cpus:2.5",
        "cpus(eng):1",
        "cpus(dyn:a@ops):1",
        "cpus{REV}:0.5",
        "mem:512",
        "mem(eng):64",
        "gpus:1",
        "ports:[31000-31005]",
        "ports:[31003-31010]",
        "ports(eng):[100-200]",
        "disk:10",
        "disk[MOUNT:/m]:10",
        "disk(a)[id=v]:10",
        "disk(eng)[PATH:/p,id=v1,principal=p,path=data,mode=RW]<SHARED>:64",
        "color:{red,blue}",
    ];

    fn pieces() -> impl proptest::strategy::Strategy<Value = Resources> {
        use proptest::prelude::*;
        prop::collection::vec(0..PIECES.len(), 0..8).prop_map(|picks| {
            let mut out = Resources::new();
            for i in picks {
                out.add_assign(&r(PIECES[i]));
            }
            out
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        #[test]
        fn plain_key_comparison_agrees_with_the_full_one(a in pieces(), b in pieces()) {
            for x in a.iter().chain(b.iter()) {
                for y in a.iter().chain(b.iter()) {
                    proptest::prop_assert_eq!(x.key_cmp(y), x.key_cmp_full(y));
                }
            }
        }

        #[test]
        fn merge_walk_contains_agrees_with_lookup(a in pieces(), b in pieces()) {
            proptest::prop_assert_eq!(a.contains(&b), a.contains_by_lookup(&b));
            // Also on pairs where containment holds or nearly holds.
            let sum = a.plus(&b);
            proptest::prop_assert_eq!(sum.contains(&b), sum.contains_by_lookup(&b));
            proptest::prop_assert!(sum.contains(&b) && sum.contains(&a));
            let diff = sum.minus(&a);
            proptest::prop_assert_eq!(diff.contains(&b), diff.contains_by_lookup(&b));
            proptest::prop_assert_eq!(b.contains(&sum), b.contains_by_lookup(&sum));
        }
    }
}
