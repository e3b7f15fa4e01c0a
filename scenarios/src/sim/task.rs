//! Task states and reasons, named as Mesos names them (`mesos.proto`), for the event
//! log and the summary.

/// A task's state as the master sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TaskState {
    /// Submitted to the framework, not launched yet (not a Mesos state).
    Pending,
    /// Accepted by the master, on its way to the agent.
    Staging,
    /// Running on the agent.
    Running,
    /// Ended successfully.
    Finished,
    /// Ended with an error.
    Failed,
    /// Killed on request.
    Killed,
    /// Lost with its agent, or preempted.
    Lost,
    /// Dropped before it reached an agent (e.g. the offer was rescinded).
    Dropped,
}

impl TaskState {
    /// The Mesos name, e.g. `TASK_RUNNING`.
    pub fn mesos_name(self) -> &'static str {
        match self {
            TaskState::Pending => "PENDING",
            TaskState::Staging => "TASK_STAGING",
            TaskState::Running => "TASK_RUNNING",
            TaskState::Finished => "TASK_FINISHED",
            TaskState::Failed => "TASK_FAILED",
            TaskState::Killed => "TASK_KILLED",
            TaskState::Lost => "TASK_LOST",
            TaskState::Dropped => "TASK_DROPPED",
        }
    }

    /// True once the task can no longer change state.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Finished
                | TaskState::Failed
                | TaskState::Killed
                | TaskState::Lost
                | TaskState::Dropped
        )
    }
}

/// Why a task reached its state (`TaskStatus.Reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskReason {
    /// The offer it was launched from was no longer valid.
    InvalidOffers,
    /// Its agent was removed.
    AgentRemoved,
    /// Its framework was removed.
    FrameworkRemoved,
    /// Its container went over its memory limit.
    ContainerLimitationMemory,
    /// A QoS controller killed its (revocable) container.
    ContainerPreempted,
    /// Its executor died (here: chosen by the host's OOM killer).
    ExecutorTerminated,
    /// Its executor never registered with the agent (the container's network blocks it).
    ExecutorRegistrationTimeout,
}

impl TaskReason {
    /// The Mesos name, e.g. `REASON_AGENT_REMOVED`.
    pub fn mesos_name(self) -> &'static str {
        match self {
            TaskReason::InvalidOffers => "REASON_INVALID_OFFERS",
            TaskReason::AgentRemoved => "REASON_AGENT_REMOVED",
            TaskReason::FrameworkRemoved => "REASON_FRAMEWORK_REMOVED",
            TaskReason::ContainerLimitationMemory => "REASON_CONTAINER_LIMITATION_MEMORY",
            TaskReason::ContainerPreempted => "REASON_CONTAINER_PREEMPTED",
            TaskReason::ExecutorTerminated => "REASON_EXECUTOR_TERMINATED",
            TaskReason::ExecutorRegistrationTimeout => "REASON_EXECUTOR_REGISTRATION_TIMEOUT",
        }
    }
}
