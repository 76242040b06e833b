//! What every other folder leans on and that knows nothing of ssh: the one deadline of a
//! command, durations as people write them, the watchdog behind "never hangs", the
//! definition of an environment variable, and text from outside made safe for a terminal. Uses nothing of the crate's but the error type.

pub mod deadline;
pub mod durations;
pub mod environment;
pub mod text;
pub mod watchdog;
