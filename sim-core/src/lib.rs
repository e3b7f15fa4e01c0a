//! Deterministic discrete-event engine. See README.md in this crate.
//!
//! sim-core knows nothing about clusters. It provides:
//!
//! * [`time`]: integer simulated time, [`SimTime`] and [`SimDuration`] (`u64` ns);
//! * [`engine`]: [`Engine<E>`](Engine), generic over the model's closed event enum `E`,
//!   dispatching to a [`Handler`]; cancellable timers ([`TimerId`]); an [`Observer`]
//!   hook for metrics and event logs;
//! * [`queue`]: the pending-event set behind the engine ([`EventQueue`]);
//! * [`rng`]: one reproducible random stream per named component ([`RngStreams`]);
//! * [`clock`]: the [`Clock`] that paces a run ([`VirtualClock`] here; a wall clock
//!   lives in the `live` crate because sim-core never reads the wall clock).
//!
//! # Ordering guarantees
//!
//! * Events are dispatched in increasing time; events with **equal times are
//!   dispatched in the order they were scheduled** (first in, first out), whatever
//!   mix of `schedule_at`/`schedule_after`, cancellations and runs came in between.
//!   Dispatch order is exactly the order of the pair (time, scheduling sequence number).
//! * An event scheduled for `now` (zero delay) runs after every event already
//!   scheduled for `now`, within the same run.
//! * Scheduling before `now` panics; time never goes backwards.
//! * `cancel` takes effect immediately: a cancelled event is never dispatched. Ids
//!   of fired or cancelled events never match a later event.
//! * [`Engine::run_until`] dispatches every event with time `<= until` and leaves
//!   `now == until` unless a handler called [`Context::stop`].
//! * Nothing depends on the wall clock, hashing or threads: the same sequence of calls
//!   gives the same dispatch order and the same random draws on every machine.
//!
//! # Random streams are stable
//!
//! [`RngStreams::stream`] derives a ChaCha8 generator from the master seed and the
//! component's name with hand-written FNV-1a and SplitMix64 (see [`rng`]), so streams
//! are stable across releases of mesosim and of its dependencies, and adding a component
//! never shifts another's draws. A golden test pins the first draws of named streams.
//!
//! # Composing a model from components
//!
//! A model is a set of components that own their state and handle their own events.
//! The model's event type is a closed enum with one variant per component; the
//! top-level handler matches on it and forwards to the component's `handle`, which
//! receives the same [`Context`] and schedules events for any component by wrapping
//! them in the top-level enum. Matches stay exhaustive, events stay plain data (no
//! boxing), and the event log can print every event.
//!
//! ```
//! use sim_core::{Context, Engine, Handler, RngStreams, SimDuration, SimRng, SimTime, TimerId};
//! use rand::Rng;
//!
//! /// Every event in the model.
//! #[derive(Debug)]
//! enum Event {
//!     Master(MasterEvent),
//!     Agent { id: usize, event: AgentEvent },
//! }
//! #[derive(Debug)]
//! enum MasterEvent { Allocate, TaskFinished { agent: usize } }
//! #[derive(Debug)]
//! enum AgentEvent { Launch, Finish }
//!
//! struct Master { finished: u32, launched: u32 }
//! impl Master {
//!     fn handle(&mut self, event: MasterEvent, ctx: &mut Context<'_, Event>) {
//!         match event {
//!             MasterEvent::Allocate => {
//!                 for id in 0..2 {
//!                     self.launched += 1;
//!                     ctx.schedule_after(SimDuration::from_millis(1), Event::Agent { id, event: AgentEvent::Launch });
//!                 }
//!             }
//!             MasterEvent::TaskFinished { .. } => self.finished += 1,
//!         }
//!     }
//! }
//!
//! struct Agent { rng: SimRng, finish: Option<TimerId> }
//! impl Agent {
//!     fn handle(&mut self, id: usize, event: AgentEvent, ctx: &mut Context<'_, Event>) {
//!         match event {
//!             AgentEvent::Launch => {
//!                 let run = SimDuration::from_millis(self.rng.random_range(10..20));
//!                 self.finish = Some(ctx.schedule_after(run, Event::Agent { id, event: AgentEvent::Finish }));
//!             }
//!             AgentEvent::Finish => {
//!                 self.finish = None;
//!                 ctx.schedule_after(SimDuration::ZERO, Event::Master(MasterEvent::TaskFinished { agent: id }));
//!             }
//!         }
//!     }
//! }
//!
//! /// The top-level handler: owns the components, dispatches by variant.
//! struct World { master: Master, agents: Vec<Agent> }
//! impl Handler<Event> for World {
//!     fn handle(&mut self, event: Event, ctx: &mut Context<'_, Event>) {
//!         match event {
//!             Event::Master(e) => self.master.handle(e, ctx),
//!             Event::Agent { id, event } => self.agents[id].handle(id, event, ctx),
//!         }
//!     }
//! }
//!
//! // Each component draws from its own named stream.
//! let streams = RngStreams::new(42);
//! let mut world = World {
//!     master: Master { finished: 0, launched: 0 },
//!     agents: (0..2)
//!         .map(|i| Agent { rng: streams.stream(&format!("agent/{i}/tasks")), finish: None })
//!         .collect(),
//! };
//! let mut engine = Engine::new();
//! engine.schedule_at(SimTime::ZERO, Event::Master(MasterEvent::Allocate));
//! let outcome = engine.run_until(&mut world, SimTime::from_secs(1));
//! assert_eq!((world.master.launched, world.master.finished), (2, 2));
//! assert_eq!(outcome.events, 7);
//! assert_eq!(engine.now(), SimTime::from_secs(1));
//! ```

pub mod clock;
pub mod engine;
pub mod queue;
pub mod rng;
pub mod time;

pub use clock::{Clock, VirtualClock};
pub use engine::{Context, Engine, Handler, NoObserver, Observer, RunOutcome, TimerId};
pub use queue::{EventQueue, QueueMemory};
pub use rng::{RngStreams, SimRng};
pub use time::{SimDuration, SimTime};
