//! The one RAM-backed [`Nvm`]: what a host runs a card on (reader-sim keeps it in a `Vec` and saves it to a
//! file), what the tests cut the power of, and what the no_std link check puts in a static array.
//!
//! Like trussed's `virt` store, one type over any byte buffer (`[u8; N]`, `&mut [u8; N]`, `Vec<u8>`) with a
//! single way to cut power: [`RamNvm::cut_after`] counts *writes*, because a write is the unit the card's commit
//! reasons about (`nvm.rs`: the body chunks, then the header block in one write) and a sweep over every write
//! index is then exhaustive. The write in progress at the cut tears at its midpoint — the first half lands, the
//! rest keeps its old bytes — and every later write fails until [`RamNvm::restore_power`], as on an EEPROM that
//! lost its supply. The read-only view of an image file is [`SliceNvm`], which this type reads through.
//!
//! Not a chip's memory: no wear levelling, no page size, no erase state. The power cut is a test knob; left
//! alone it never fires.

use core::fmt;

use crate::nvm::{Nvm, NvmError, SliceNvm};

/// RAM-backed NVM over the buffer `B`; see the module documentation for the power cut.
pub struct RamNvm<B> {
    /// The memory.
    pub bytes: B,
    writes_left: Option<u32>,
    powered: bool,
    writes: u32,
    dirty: bool,
}

impl<B> fmt::Debug for RamNvm<B> {
    /// The bytes hold PINs and keys: only the counters are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RamNvm")
            .field("writes", &self.writes)
            .field("powered", &self.powered)
            .field("dirty", &self.dirty)
            .finish_non_exhaustive()
    }
}

impl<B: Clone> Clone for RamNvm<B> {
    fn clone(&self) -> Self {
        RamNvm {
            bytes: self.bytes.clone(),
            writes_left: self.writes_left,
            powered: self.powered,
            writes: self.writes,
            dirty: self.dirty,
        }
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> RamNvm<B> {
    /// Powered, clean NVM over `bytes`.
    pub fn new(bytes: B) -> Self {
        RamNvm { bytes, writes_left: None, powered: true, writes: 0, dirty: false }
    }

    /// The whole memory, e.g. to save it as an image file.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_ref()
    }

    /// Lose power during the k-th write from now (k = 0: the next one).
    pub fn cut_after(&mut self, k: u32) {
        self.writes_left = Some(k);
    }

    /// End the power outage; the next write lands whole.
    pub fn restore_power(&mut self) {
        self.writes_left = None;
        self.powered = true;
    }

    /// Power was cut and not restored.
    pub fn power_lost(&self) -> bool {
        !self.powered
    }

    /// Writes attempted since creation, torn ones included.
    pub fn writes(&self) -> u32 {
        self.writes
    }

    /// Whether a byte may have changed since the last [`RamNvm::take_dirty`].
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Returns the dirty flag and clears it. Call it only once the bytes are safely stored.
    pub fn take_dirty(&mut self) -> bool {
        core::mem::replace(&mut self.dirty, false)
    }

    /// Marks the memory dirty again, e.g. after a failed save so the next exchange retries it.
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Nvm for RamNvm<B> {
    fn capacity(&self) -> usize {
        self.bytes.as_ref().len()
    }

    fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), NvmError> {
        SliceNvm(self.bytes.as_ref()).read(offset, buf)
    }

    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), NvmError> {
        if !self.powered {
            return Err(NvmError::PowerLost);
        }
        let end = offset.checked_add(data.len()).ok_or(NvmError::OutOfRange)?;
        let dst = self.bytes.as_mut().get_mut(offset..end).ok_or(NvmError::OutOfRange)?;
        self.writes = self.writes.saturating_add(1);
        self.dirty = true;
        match self.writes_left {
            Some(0) => {
                let half = data.len() / 2;
                for (d, b) in dst.iter_mut().zip(data).take(half) {
                    *d = *b;
                }
                self.powered = false;
                Err(NvmError::PowerLost)
            }
            Some(ref mut k) => {
                *k -= 1;
                dst.copy_from_slice(data);
                Ok(())
            }
            None => {
                dst.copy_from_slice(data);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_tears_its_write_and_fails_the_rest_until_power_returns() {
        let mut nvm = RamNvm::new([0xFFu8; 16]);
        nvm.write(0, &[1]).unwrap();
        assert!(nvm.take_dirty());
        nvm.cut_after(1);
        nvm.write(1, &[2]).unwrap();
        assert_eq!(nvm.write(4, &[1, 2, 3, 4]), Err(NvmError::PowerLost));
        assert_eq!(&nvm.as_bytes()[..8], &[1, 2, 0xFF, 0xFF, 1, 2, 0xFF, 0xFF]);
        assert!(nvm.power_lost());
        assert_eq!(nvm.write(12, &[9]), Err(NvmError::PowerLost));
        assert_eq!(nvm.writes(), 3, "the refused write after the cut is not counted");
        nvm.restore_power();
        nvm.write(12, &[9]).unwrap();
        assert!(nvm.is_dirty());
    }

    #[test]
    fn out_of_range_is_an_error_and_changes_nothing() {
        let mut nvm = RamNvm::new([0u8; 4]);
        assert_eq!(nvm.write(3, &[0, 0]), Err(NvmError::OutOfRange));
        assert_eq!(nvm.write(usize::MAX, &[0]), Err(NvmError::OutOfRange));
        assert_eq!(nvm.read(usize::MAX, &mut [0u8; 2]), Err(NvmError::OutOfRange));
        assert!(!nvm.is_dirty());
        assert_eq!(nvm.writes(), 0);
    }

    #[test]
    fn debug_shows_no_byte() {
        extern crate std;
        let text = std::format!("{:?}", RamNvm::new([0x42u8; 4]));
        assert!(!text.contains("42") && !text.contains("66"), "{text}");
    }
}
