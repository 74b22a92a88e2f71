//! A blank UZI-ATR card served on one vpcd slot until killed: the smallest real use of the crate, and the card the
//! PC/SC benchmark (`shared/bench/pcsc-anchor.sh`) measures against the echo card.
//!
//! Run: `cargo run --release -p reader-sim --example vpcd_card -- [HOST:PORT] [--trace]`
//! (default `$VPCD_HOST:$VPCD_PORT`, else `127.0.0.1:35963`).

use card_os::{Card, ChipProfile, PinPolicy};
use reader_sim::{HostPlatform, InProcessReader, Trace, VpcdServer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut addr = None;
    let mut trace = Trace::off();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--trace" => trace = Trace::stdout(),
            other => addr = Some(other.to_owned()),
        }
    }
    let addr = addr.unwrap_or_else(|| {
        let host = std::env::var("VPCD_HOST").unwrap_or_else(|_| "127.0.0.1".into());
        let port = std::env::var("VPCD_PORT").unwrap_or_else(|_| "35963".into());
        format!("{host}:{port}")
    });
    let profile = ChipProfile {
        atr: &card_os::profile::UZI_ATR,
        serial: b"EXAMPLE0001",
        pin: PinPolicy::UZI_PIN,
        puk: PinPolicy::UZI_PUK,
    };
    let card = Card::format(HostPlatform::blank(), &profile).map_err(|e| format!("cannot format the card: it {e}"))?;
    let reader = InProcessReader::with_card(card).into_shared();
    let handle = VpcdServer::spawn(addr.parse::<std::net::SocketAddr>()?, reader, trace)?;
    handle.wait_ready(std::time::Duration::MAX);
    eprintln!("card connected to vpcd at {addr}");
    loop {
        std::thread::park();
    }
}
