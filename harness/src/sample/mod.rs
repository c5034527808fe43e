//! Everything gatebench reads about processes while it measures them: /proc ([`proc`]), a
//! target's CPU and memory whether a process tree or a container ([`usage`]), the CPU of the
//! generator, the machine and the target over exactly the measured window ([`window`]), and the
//! sampler of a target's memory over a level ([`resources`]).

pub mod proc;
pub mod resources;
pub mod usage;
pub mod window;

pub use resources::{no_process_resources, ResourceSampler};
pub use usage::Usage;
pub use window::{TargetCpu, WindowCpu, WindowProbe};
