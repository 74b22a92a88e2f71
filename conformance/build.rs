//! Rebuilds the crate when a file is added to or removed from `fixtures/`: `include_dir!` (conformance/src/fixtures.rs)
//! tracks the files it embeds, not the folders, so a new script or profile would otherwise stay out of the binary.

fn main() {
    println!("cargo::rerun-if-changed=../fixtures");
}
