//! The jhub binary: command line, process wiring, logging.
fn main() {}
