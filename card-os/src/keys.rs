//! Key slots: what a slot holds (its algorithm and origin), the layout of the key material in it, and what a
//! host may know of it (the public key).
//!
//! Private keys live only in the card image and are read into a [`Material`] buffer for one operation at a time
//! (`handlers/security.rs`), zeroed when it drops; no command ever answers one. RSA keys are kept in CRT form
//! (p, q, dp, dq, qinv) beside n, e and d (RFC 8017 §3.2), so the chip never recomputes them.

use core::fmt;

use zeroize::Zeroize;

use crate::types::{KeyAlgorithm, KeyOrigin, KeyRef};

/// Bytes of a P-256 private scalar.
pub const EC_SCALAR: usize = 32;
/// Bytes of an uncompressed SEC1 point `04‖X‖Y`.
pub const EC_POINT: usize = 65;
/// Bytes of an RSA-2048 modulus.
pub const RSA_MODULUS: usize = 256;
/// Bytes of one RSA-2048 prime, CRT exponent or coefficient.
pub const RSA_HALF: usize = 128;
/// Bytes of the public exponent as stored.
pub const RSA_EXPONENT: usize = 4;

/// P-256 material: scalar ‖ public point.
pub const EC_MATERIAL: usize = EC_SCALAR + EC_POINT;
/// RSA-2048 material: n ‖ e ‖ d ‖ p ‖ q ‖ dp ‖ dq ‖ qinv.
pub const RSA_MATERIAL: usize = RSA_MODULUS + RSA_EXPONENT + RSA_MODULUS + 5 * RSA_HALF;
/// The largest material a slot holds.
pub const MAX_MATERIAL: usize = RSA_MATERIAL;

/// Where each RSA component starts in the material.
pub mod rsa_layout {
    use super::{RSA_EXPONENT, RSA_HALF, RSA_MODULUS};
    /// The modulus n.
    pub const N: usize = 0;
    /// The public exponent e (4 bytes, big-endian).
    pub const E: usize = N + RSA_MODULUS;
    /// The private exponent d.
    pub const D: usize = E + RSA_EXPONENT;
    /// The first prime p.
    pub const P: usize = D + RSA_MODULUS;
    /// The second prime q.
    pub const Q: usize = P + RSA_HALF;
    /// d mod (p − 1).
    pub const DP: usize = Q + RSA_HALF;
    /// d mod (q − 1).
    pub const DQ: usize = DP + RSA_HALF;
    /// q⁻¹ mod p.
    pub const QINV: usize = DQ + RSA_HALF;
}

/// The CRT components of an injected RSA key (ISO 7816-8 `7F48`: `92` p, `93` q, `94` qinv, `95` dp, `96` dq),
/// borrowed from the command; never printed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Crt<'a> {
    /// The first prime.
    pub p: &'a [u8],
    /// The second prime.
    pub q: &'a [u8],
    /// q⁻¹ mod p.
    pub qinv: &'a [u8],
    /// d mod (p − 1).
    pub dp: &'a [u8],
    /// d mod (q − 1).
    pub dq: &'a [u8],
}

impl core::fmt::Debug for Crt<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Crt(***)")
    }
}

/// What a slot holds, as the image records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySlot {
    /// Generated on the card or injected.
    pub origin: KeyOrigin,
    /// P-256 or RSA-2048.
    pub algorithm: KeyAlgorithm,
}

/// Key material read from the image for one operation: zeroed on drop, never printed.
pub struct Material {
    /// The bytes, laid out as [`rsa_layout`] or scalar ‖ point.
    pub bytes: [u8; MAX_MATERIAL],
}

impl Material {
    /// All zero.
    pub const fn zero() -> Self {
        Material { bytes: [0; MAX_MATERIAL] }
    }

    /// A component: `len` bytes at `at` (empty if out of range, which the layout constants never are).
    pub fn part(&self, at: usize, len: usize) -> &[u8] {
        self.bytes.get(at..at + len).unwrap_or(&[])
    }
}

impl Drop for Material {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl fmt::Debug for Material {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Material(***)")
    }
}

/// A public key, as a host may know it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PublicKey {
    /// Uncompressed SEC1 point `04‖X‖Y`.
    P256([u8; EC_POINT]),
    /// RSA-2048.
    Rsa2048 {
        /// The modulus n, big-endian.
        modulus: [u8; RSA_MODULUS],
        /// The public exponent e.
        exponent: u32,
    },
}

impl PublicKey {
    /// The public half of a slot's material.
    pub fn of(algorithm: KeyAlgorithm, material: &Material) -> PublicKey {
        match algorithm {
            KeyAlgorithm::P256 => {
                let mut point = [0u8; EC_POINT];
                point.copy_from_slice(material.part(EC_SCALAR, EC_POINT));
                PublicKey::P256(point)
            }
            KeyAlgorithm::Rsa2048 => {
                let mut modulus = [0u8; RSA_MODULUS];
                modulus.copy_from_slice(material.part(rsa_layout::N, RSA_MODULUS));
                let mut e = [0u8; RSA_EXPONENT];
                e.copy_from_slice(material.part(rsa_layout::E, RSA_EXPONENT));
                PublicKey::Rsa2048 { modulus, exponent: u32::from_be_bytes(e) }
            }
        }
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self {
            PublicKey::P256(_) => KeyAlgorithm::P256,
            PublicKey::Rsa2048 { .. } => KeyAlgorithm::Rsa2048,
        }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublicKey::P256(p) => write!(f, "P256({:02X?}…)", p.get(..5).unwrap_or(&[])),
            PublicKey::Rsa2048 { modulus, exponent } => {
                write!(f, "Rsa2048 {{ modulus: {:02X?}…, exponent: {exponent} }}", modulus.get(..4).unwrap_or(&[]))
            }
        }
    }
}

/// What a host may know of a key slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// The slot.
    pub key: KeyRef,
    /// Generated on the card or injected.
    pub origin: KeyOrigin,
    /// The public key.
    pub public: PublicKey,
}
