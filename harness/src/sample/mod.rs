//! Everything gatebench reads about processes while it measures them: /proc ([`proc`]), a
//! target's CPU and memory whether a process tree or a container ([`usage`]), and the sampler
//! that turns those readings into a level's [`reports::Resources`] ([`resources`]).

pub mod proc;
pub mod resources;
pub mod usage;

pub use resources::{no_process_resources, ResourceSampler};
pub use usage::Usage;
