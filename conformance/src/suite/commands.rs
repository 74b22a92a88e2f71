//! The command APDUs the runner builds: short (ISO 7816-4 §5.1), extended when the data needs it, or a command chain
//! (§5.3.3).

/// Short-length command APDU with data (case 3) or with data and `Le = 00` (case 4).
pub(super) fn command(header: [u8; 4], data: &[u8], le: bool) -> Result<Vec<u8>, String> {
    if data.len() > 255 {
        return Err(format!("{} data bytes do not fit a short APDU", data.len()));
    }
    reader_sim::exchange::command(header, data, le.then_some(256))
        .map_err(|status| format!("cannot encode it: {status}"))
}

/// Command APDU with data: short (case 3/4) when the data fits, else extended (`00 Lc1 Lc2`, Le `00 00`).
pub(super) fn command_any_length(header: [u8; 4], data: &[u8]) -> Result<Vec<u8>, String> {
    let ne = if data.len() <= 255 { 256 } else { 65_536 };
    reader_sim::exchange::command(header, data, Some(ne))
        .map_err(|_| format!("{} data bytes do not fit an APDU", data.len()))
}

/// Command chaining (ISO 7816-4 §5.3.3), as OpenSC sends long data to a reader without extended APDUs: parts of
/// at most 255 bytes, CLA `10` on all but the last, Le `00` on the last.
pub(super) fn chained_commands(header: [u8; 4], data: &[u8]) -> Vec<Vec<u8>> {
    let parts: Vec<&[u8]> = data.chunks(255).collect();
    let last = parts.len().saturating_sub(1);
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let mut apdu = header.to_vec();
            if i < last {
                apdu[0] |= 0x10;
            }
            apdu.push(part.len() as u8);
            apdu.extend_from_slice(part);
            if i == last {
                apdu.push(0x00);
            }
            apdu
        })
        .collect()
}
