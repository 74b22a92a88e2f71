//! `zorgcard list-readers` and the `-r`/`--reader` argument, as the field's tools have them.
//!
//! opensc-tool's `-r` takes a reader number from its `--list-readers` or a name; ykman's `-r` takes part of a
//! name. `zorgcard` takes all three: a number from `zorgcard list-readers`, the exact name, or a part of one name
//! (any case). pcscd lists vpcd's slots as "Virtual PCD 00 00", "Virtual PCD 00 01", … (slot *n* last).

use std::ffi::CString;
use std::io::Write;

use reader_sim::pcsc::{self, PcscReaderError};

use super::CliError;

/// The reader `arg` means among `names` (pcscd's order): a number (its index), an exact name, or the one name
/// containing `arg` (case-insensitive).
pub fn pick_reader(names: &[String], arg: &str) -> Result<String, CliError> {
    if let Some(exact) = names.iter().find(|n| *n == arg) {
        return Ok(exact.clone());
    }
    let listed = || {
        if names.is_empty() {
            "pcscd lists no reader (is vpcd installed and `zorgcard serve` running, or a reader plugged in?)".into()
        } else {
            let lines: Vec<String> = names.iter().enumerate().map(|(i, n)| format!("  {i}: {n}")).collect();
            format!("the readers are:\n{}", lines.join("\n"))
        }
    };
    if let Ok(index) = arg.parse::<usize>() {
        return names.get(index).cloned().ok_or_else(|| {
            CliError::Reader(format!("--reader {arg}: there is no reader number {index}; {}", listed()))
        });
    }
    let wanted = arg.to_lowercase();
    let matching: Vec<&String> = names.iter().filter(|n| n.to_lowercase().contains(&wanted)).collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(CliError::Reader(format!("--reader `{arg}` matches no reader; {}", listed()))),
        _ => Err(CliError::Reader(format!(
            "--reader `{arg}` matches {} readers: give more of the name, or its number; {}",
            matching.len(),
            listed()
        ))),
    }
}

/// Resolves `-r`/`--reader` against the readers pcscd knows now.
pub fn resolve(arg: &str) -> Result<String, CliError> {
    pick_reader(&pcsc::list_readers()?, arg)
}

/// `zorgcard list-readers`: one `N: NAME` line per reader, in pcscd's order (the numbers `-r` takes). With
/// `verbose`, each line also says whether a card is in the reader, and its ATR. No reader at all is said on
/// `diagnostics` and is not an error (an empty list is an answer); no pcscd is.
pub fn list_readers(out: &mut dyn Write, diagnostics: &mut dyn Write, verbose: bool) -> Result<(), CliError> {
    let names = pcsc::list_readers()?;
    if names.is_empty() {
        writeln!(
            diagnostics,
            "no PC/SC readers: plug a reader in, or install vsmartcard-vpcd (its slots show while pcscd runs)"
        )?;
    }
    let states = if verbose { card_states(&names)? } else { vec![String::new(); names.len()] };
    for (i, (name, state)) in names.iter().zip(states).enumerate() {
        writeln!(out, "{i}: {name}{state}")?;
    }
    Ok(())
}

/// `  [card, ATR 3B…]` or `  [empty]` for each reader, from one `SCardGetStatusChange` that does not wait.
fn card_states(names: &[String]) -> Result<Vec<String>, CliError> {
    let ctx = reader_sim::pcsc::establish()?;
    let mut states: Vec<pcsc_runtime::ReaderState> = names
        .iter()
        .filter_map(|n| CString::new(n.as_str()).ok())
        .map(|n| pcsc_runtime::ReaderState::new(n, pcsc_runtime::State::UNAWARE))
        .collect();
    ctx.get_status_change(Some(std::time::Duration::ZERO), &mut states).map_err(|source| PcscReaderError::Pcsc {
        reader: "(all)".into(),
        action: "reading the readers' states",
        source,
    })?;
    Ok(states
        .iter()
        .map(|s| {
            if s.event_state().contains(pcsc_runtime::State::PRESENT) {
                format!("  [card, ATR {}]", hex::encode_upper(s.atr()))
            } else {
                "  [empty]".into()
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec![
            "Virtual PCD 00 00".into(),
            "Virtual PCD 00 01".into(),
            "HID Global OMNIKEY 3x21 [OMNIKEY 3x21] 00 00".into(),
        ]
    }

    #[test]
    fn a_reader_by_number_exact_name_or_part_of_a_name() {
        assert_eq!(pick_reader(&names(), "1").unwrap(), "Virtual PCD 00 01");
        assert_eq!(pick_reader(&names(), "Virtual PCD 00 00").unwrap(), "Virtual PCD 00 00");
        assert_eq!(pick_reader(&names(), "omnikey").unwrap(), names()[2]);
        assert_eq!(pick_reader(&names(), "00 01").unwrap(), "Virtual PCD 00 01");
    }

    #[test]
    fn no_match_or_several_say_which_readers_there_are() {
        let err = pick_reader(&names(), "7").unwrap_err().to_string();
        assert!(err.contains("no reader number 7") && err.contains("  1: Virtual PCD 00 01"), "{err}");
        let err = pick_reader(&names(), "virtual").unwrap_err().to_string();
        assert!(err.contains("matches 2 readers") && err.contains("give more of the name"), "{err}");
        let err = pick_reader(&names(), "gemalto").unwrap_err().to_string();
        assert!(err.contains("matches no reader") && err.contains("  0: Virtual PCD 00 00"), "{err}");
        let err = pick_reader(&[], "0").unwrap_err().to_string();
        assert!(err.contains("pcscd lists no reader"), "{err}");
    }
}
