//! One helper shared by the test binaries of several crates (included with `#[path]`):
//! a TCP port on 127.0.0.1 that a child process (CHP, jhub, jupyterhub-singleuser) can bind.

/// A port that was free a moment ago. Drawn at random below the kernel's ephemeral range
/// (32768-60999 on Linux): the outgoing connections of a parallel test run take their local
/// ports from that range, and one of them could otherwise grab the port between this check
/// and the child binding it.
pub fn free_port() -> u16 {
    loop {
        let mut b = [0u8; 2];
        getrandom::fill(&mut b).expect("randomness");
        let port = 20_000 + u16::from_le_bytes(b) % 12_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
