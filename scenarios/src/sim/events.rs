//! The closed set of events of a simulated Mesos cluster. Each names who acts: the
//! master, an agent or a framework, after the latency of the message that caused it.

use models::allocator::FilterId;
use models::operations::Operation;
use sim_core::time::SimDuration;

use super::ids::{OfferId, TaskId};
use super::task::TaskState;

/// Everything that can happen in a simulated cluster.
#[derive(Debug)]
pub enum Event {
    /// An agent of the scenario registers with the master.
    RegisterAgent(usize),
    /// A framework of the scenario subscribes.
    RegisterFramework(usize),
    /// A timeline step is due (it runs once the instant has settled).
    TimelineStep(usize),
    /// The periodic allocation timer fired.
    PeriodicAllocation,
    /// An event-triggered (batched) allocation cycle.
    TriggeredAllocation,
    /// An offer filter's timeout fired.
    FilterExpired(FilterId),
    /// An offer reaches its framework.
    OfferArrives(OfferId),
    /// The framework has thought about an offer and answers it.
    OfferDecision(OfferId),
    /// The framework's ACCEPT reaches the master.
    AcceptArrives {
        /// The offer.
        offer: OfferId,
        /// Tasks to launch; each task already holds the resources it picked.
        launches: Vec<TaskId>,
        /// Filter on the unused remainder.
        refuse: Option<SimDuration>,
        /// Offer operations (RESERVE, CREATE, …) applied before the launches.
        operations: Vec<Operation>,
    },
    /// The framework's DECLINE reaches the master.
    DeclineArrives {
        /// The offer.
        offer: OfferId,
        /// Filter duration.
        refuse: Option<SimDuration>,
    },
    /// The framework's SUPPRESS (true) or REVIVE (false) reaches the master.
    SuppressArrives {
        /// Framework index.
        framework: usize,
        /// Suppress or revive.
        suppress: bool,
    },
    /// A task launch reaches its agent.
    LaunchArrives(TaskId),
    /// A task finished its work on the agent.
    TaskWorkDone(TaskId),
    /// A task status update reaches the master.
    StatusAtMaster(TaskId, TaskState),
    /// A task status update reaches the framework.
    StatusAtFramework(TaskId, TaskState),
    /// A batch framework's next job arrives.
    JobArrival(usize),
    /// `--offer_timeout` expired for an offer.
    OfferTimeout(OfferId),
    /// Time to sample the metrics time series.
    Sample,
    /// The next record of a replayed trace is due.
    TraceNext,
    /// A timer of the resource usage model (oversubscription, bursting).
    Usage(super::usage::UsageEvent),
    /// The network's next flow completion is due.
    NetworkCompletion,
    /// A service instance sends its next response over the network.
    ServiceRequest(TaskId),
    /// A timer of the fetcher (a copy into a sandbox, a timed download).
    Fetch(super::fetcher::FetchEvent),
    /// The master's CPU finished the work a message needed; it is handled now.
    MasterCpuDone {
        /// The message (or allocation timer) that waited.
        event: Box<Event>,
        /// When it reached the master.
        queued: sim_core::time::SimTime,
    },
}
