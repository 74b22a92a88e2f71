//! Prints, for every fixture profile, the image body size of a freshly made card and the card's RAM state.
//! `cargo run --release -p conformance --example profile_sizes`

use card_os::Platform as _;
use issuance::card_new::{NewCardOptions, new_card};
use issuance::pki::TestPki;
use issuance::profile::{self, PROFILE_NAMES};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pki = TestPki::fixtures()?;
    let (ram, io) = card_os::Card::<reader_sim::platform::HostPlatform>::sizes();
    println!("card RAM state {ram} bytes, lent APDU buffers {io} bytes (targets: RAM <= 16,384)");
    for name in PROFILE_NAMES {
        let made = new_card(&profile::load(name)?, &pki, &NewCardOptions::default())?;
        let summary = card_os::image::inspect(made.card.platform().nvm().as_bytes())?;
        println!(
            "{name:30} image {:6} bytes ({} files, {} keys)   (target <= 32,768)",
            summary.body_len,
            made.card.info().files,
            made.card.info().keys.len()
        );
    }
    Ok(())
}
