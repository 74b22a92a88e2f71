//! The C side: pcsc-lite's types (`pcsclite.h`, `wintypes.h`), the library opened at run time, and one safe
//! function per `SCard*` call. This is the crate's only `unsafe` code; everything above it is safe Rust.
//!
//! Types differ by platform, as pcsc-lite's `wintypes.h` and Microsoft's `winscard.h` define them: on Linux and the
//! BSDs `DWORD` is `unsigned long` and `LONG` is `long` (64 bits on x86_64), on macOS both are 32 bits and
//! `SCARD_READERSTATE` is packed, on Windows both are 32 bits, handles are pointer-sized and the ATR buffer of
//! `SCARD_READERSTATEA` is 36 bytes.

#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_void};
use std::sync::OnceLock;

use crate::error::Error;

#[cfg(all(unix, not(target_os = "macos")))]
mod platform {
    pub type Dword = std::ffi::c_ulong;
    pub type Long = std::ffi::c_long;
    pub type Handle = std::ffi::c_long;
    pub const LIBRARIES: &[&str] = &["libpcsclite.so.1", "libpcsclite.so"];
    pub const ATR_BUFFER: usize = 33;
    pub const SUFFIX: &str = "";
}
#[cfg(target_os = "macos")]
mod platform {
    pub type Dword = u32;
    pub type Long = i32;
    pub type Handle = i32;
    pub const LIBRARIES: &[&str] = &["/System/Library/Frameworks/PCSC.framework/PCSC"];
    pub const ATR_BUFFER: usize = 33;
    pub const SUFFIX: &str = "";
}
#[cfg(windows)]
mod platform {
    pub type Dword = u32;
    pub type Long = i32;
    pub type Handle = usize;
    pub const LIBRARIES: &[&str] = &["winscard.dll"];
    pub const ATR_BUFFER: usize = 36;
    pub const SUFFIX: &str = "A";
}
use platform::{ATR_BUFFER, LIBRARIES, Long, SUFFIX};
pub use platform::{Dword, Handle};

/// `SCARD_IO_REQUEST`: the protocol control information in front of a transmitted APDU.
#[repr(C)]
struct IoRequest {
    protocol: Dword,
    pci_length: Dword,
}

/// `SCARD_READERSTATE` (`SCARD_READERSTATEA` on Windows).
#[cfg_attr(target_os = "macos", repr(C, packed))]
#[cfg_attr(not(target_os = "macos"), repr(C))]
struct RawReaderState {
    reader: *const c_char,
    user_data: *mut c_void,
    current_state: Dword,
    event_state: Dword,
    atr_len: Dword,
    atr: [u8; ATR_BUFFER],
}

type EstablishContext = unsafe extern "system" fn(Dword, *const c_void, *const c_void, *mut Handle) -> Long;
type ReleaseContext = unsafe extern "system" fn(Handle) -> Long;
type ListReaders = unsafe extern "system" fn(Handle, *const c_char, *mut c_char, *mut Dword) -> Long;
type GetStatusChange = unsafe extern "system" fn(Handle, Dword, *mut RawReaderState, Dword) -> Long;
type Connect = unsafe extern "system" fn(Handle, *const c_char, Dword, Dword, *mut Handle, *mut Dword) -> Long;
type Reconnect = unsafe extern "system" fn(Handle, Dword, Dword, Dword, *mut Dword) -> Long;
type Disconnect = unsafe extern "system" fn(Handle, Dword) -> Long;
type Transmit =
    unsafe extern "system" fn(Handle, *const IoRequest, *const u8, Dword, *mut IoRequest, *mut u8, *mut Dword) -> Long;
type Status =
    unsafe extern "system" fn(Handle, *mut c_char, *mut Dword, *mut Dword, *mut Dword, *mut u8, *mut Dword) -> Long;

/// The opened library and its functions. The library is never closed (it lives in a `static`), so the function
/// pointers stay valid for the whole process.
pub(crate) struct Api {
    _library: libloading::Library,
    establish_context: EstablishContext,
    release_context: ReleaseContext,
    list_readers: ListReaders,
    get_status_change: GetStatusChange,
    connect: Connect,
    reconnect: Reconnect,
    disconnect: Disconnect,
    transmit: Transmit,
    status: Status,
}

static API: OnceLock<Option<Api>> = OnceLock::new();

/// The function table, opening the library on the first call.
pub(crate) fn api() -> Result<&'static Api, Error> {
    API.get_or_init(|| LIBRARIES.iter().find_map(|name| open(name))).as_ref().ok_or(Error::NotInstalled)
}

fn open(name: &str) -> Option<Api> {
    // SAFETY: opening the PC/SC client library runs its initialisers; pcsc-lite's and WinSCard's have no
    // preconditions on the caller (pcsc-lite's only reads environment variables such as PCSCLITE_CSOCK_NAME).
    let library = unsafe { libloading::Library::new(name) }.ok()?;
    // SAFETY: each symbol is read with the C signature that pcsc-lite's `winscard.h` (or Microsoft's) declares for
    // it, with the platform's DWORD/LONG/handle widths above; the pointers are copied out and stay valid because
    // the library is kept in `Api` for the rest of the process.
    unsafe {
        Some(Api {
            establish_context: *library.get::<EstablishContext>(b"SCardEstablishContext\0").ok()?,
            release_context: *library.get::<ReleaseContext>(b"SCardReleaseContext\0").ok()?,
            list_readers: *library.get::<ListReaders>(symbol("SCardListReaders").as_bytes_with_nul()).ok()?,
            get_status_change: *library
                .get::<GetStatusChange>(symbol("SCardGetStatusChange").as_bytes_with_nul())
                .ok()?,
            connect: *library.get::<Connect>(symbol("SCardConnect").as_bytes_with_nul()).ok()?,
            reconnect: *library.get::<Reconnect>(b"SCardReconnect\0").ok()?,
            disconnect: *library.get::<Disconnect>(b"SCardDisconnect\0").ok()?,
            transmit: *library.get::<Transmit>(b"SCardTransmit\0").ok()?,
            status: *library.get::<Status>(symbol("SCardStatus").as_bytes_with_nul()).ok()?,
            _library: library,
        })
    }
}

/// The exported name of a call that takes strings: `SCardConnectA` on Windows, `SCardConnect` elsewhere.
fn symbol(name: &str) -> CString {
    CString::new(format!("{name}{SUFFIX}")).unwrap_or_default()
}

/// `SCARD_S_SUCCESS` or the error it names. The return codes are 32-bit values (`0x8010_00xx`) that a 64-bit `LONG`
/// holds as positive numbers and a 32-bit one as negative ones: the low 32 bits are the code either way.
fn check(rv: Long) -> Result<(), Error> {
    if rv == 0 { Ok(()) } else { Err(Error::from_code(rv as u32)) }
}

fn dword(n: usize) -> Dword {
    Dword::try_from(n).unwrap_or(Dword::MAX)
}

/// `SCardEstablishContext(scope)`.
pub(crate) fn establish_context(scope: Dword) -> Result<Handle, Error> {
    let api = api()?;
    let mut context: Handle = 0;
    // SAFETY: the two reserved pointers are null as the API requires; `context` is a valid place for the handle.
    check(unsafe { (api.establish_context)(scope, std::ptr::null(), std::ptr::null(), &mut context) })?;
    Ok(context)
}

/// `SCardReleaseContext`. Only called by the owner of a context handle, once.
pub(crate) fn release_context(context: Handle) {
    if let Ok(api) = api() {
        // SAFETY: `context` came from `establish_context` and is released once (by `Context`'s `Drop`).
        let _ = unsafe { (api.release_context)(context) };
    }
}

/// `SCardListReaders`: the multi-string of reader names, split. Asked twice (size, then names); a reader that
/// appears between the two calls makes the buffer short, so it is asked again.
pub(crate) fn list_readers(context: Handle) -> Result<Vec<CString>, Error> {
    let api = api()?;
    for _ in 0..8 {
        let mut len: Dword = 0;
        // SAFETY: a null buffer asks only for the length, written to `len`.
        check(unsafe { (api.list_readers)(context, std::ptr::null(), std::ptr::null_mut(), &mut len) })?;
        let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0).max(1)];
        let mut got = dword(buf.len());
        // SAFETY: `buf` has `got` writable bytes; the library writes at most that many and sets `got`.
        let rv = unsafe { (api.list_readers)(context, std::ptr::null(), buf.as_mut_ptr().cast(), &mut got) };
        match check(rv) {
            Ok(()) => {
                buf.truncate(usize::try_from(got).unwrap_or(0).min(buf.len()));
                return Ok(buf
                    .split(|&b| b == 0)
                    .filter(|name| !name.is_empty())
                    .filter_map(|name| CString::new(name).ok())
                    .collect());
            }
            Err(Error::InsufficientBuffer) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Error::InsufficientBuffer)
}

/// One reader of a `SCardGetStatusChange` call: the name and the state the caller knows in, the event state and
/// the ATR out.
pub(crate) struct StatusQuery<'a> {
    pub reader: &'a CStr,
    pub current: Dword,
    pub event: Dword,
    pub atr: Vec<u8>,
}

/// `SCardGetStatusChange(timeout_ms, queries)`.
pub(crate) fn get_status_change(
    context: Handle,
    timeout_ms: Dword,
    queries: &mut [StatusQuery<'_>],
) -> Result<(), Error> {
    let api = api()?;
    let mut raw: Vec<RawReaderState> = queries
        .iter()
        .map(|q| RawReaderState {
            reader: q.reader.as_ptr(),
            user_data: std::ptr::null_mut(),
            current_state: q.current,
            event_state: 0,
            atr_len: 0,
            atr: [0; ATR_BUFFER],
        })
        .collect();
    // SAFETY: `raw` holds `raw.len()` initialised entries whose reader names point into `queries`, which outlive the
    // call; the library writes only the event state, ATR length and ATR of each entry.
    check(unsafe { (api.get_status_change)(context, timeout_ms, raw.as_mut_ptr(), dword(raw.len())) })?;
    for (q, r) in queries.iter_mut().zip(&raw) {
        q.event = r.event_state;
        let atr = r.atr;
        let len = usize::try_from(r.atr_len).unwrap_or(0).min(ATR_BUFFER);
        q.atr = atr.get(..len).unwrap_or_default().to_vec();
    }
    Ok(())
}

/// `SCardConnect`: the card handle and the protocol in use.
pub(crate) fn connect(
    context: Handle,
    reader: &CStr,
    share: Dword,
    protocols: Dword,
) -> Result<(Handle, Dword), Error> {
    let api = api()?;
    let (mut card, mut active): (Handle, Dword) = (0, 0);
    // SAFETY: `reader` is NUL-terminated and outlives the call; `card` and `active` are valid places to write.
    check(unsafe { (api.connect)(context, reader.as_ptr(), share, protocols, &mut card, &mut active) })?;
    Ok((card, active))
}

/// `SCardReconnect`: the protocol in use afterwards.
pub(crate) fn reconnect(card: Handle, share: Dword, protocols: Dword, initialization: Dword) -> Result<Dword, Error> {
    let api = api()?;
    let mut active: Dword = 0;
    // SAFETY: `card` is a connected handle owned by the caller; `active` is a valid place to write.
    check(unsafe { (api.reconnect)(card, share, protocols, initialization, &mut active) })?;
    Ok(active)
}

/// `SCardDisconnect`. Only called by the owner of a card handle, once.
pub(crate) fn disconnect(card: Handle, disposition: Dword) -> Result<(), Error> {
    let api = api()?;
    // SAFETY: `card` is a connected handle, disconnected once (by `Card`).
    check(unsafe { (api.disconnect)(card, disposition) })
}

/// `SCardTransmit` with the protocol control information of `protocol`: the length of the response in `response`.
pub(crate) fn transmit(card: Handle, protocol: Dword, command: &[u8], response: &mut [u8]) -> Result<usize, Error> {
    let api = api()?;
    let pci = IoRequest { protocol, pci_length: dword(std::mem::size_of::<IoRequest>()) };
    let mut len = dword(response.len());
    // SAFETY: `command` is readable for its length and `response` writable for `len` bytes; the library writes at
    // most `len` bytes and sets `len`. A null receive PCI is allowed (pcsc-lite's `winscard.h`).
    let rv = unsafe {
        (api.transmit)(
            card,
            &pci,
            command.as_ptr(),
            dword(command.len()),
            std::ptr::null_mut(),
            response.as_mut_ptr(),
            &mut len,
        )
    };
    check(rv)?;
    Ok(usize::try_from(len).unwrap_or(0).min(response.len()))
}

/// `SCardStatus`: the card's state bits, its protocol and its ATR.
pub(crate) fn status(card: Handle) -> Result<(Dword, Dword, Vec<u8>), Error> {
    let api = api()?;
    let mut name = [0u8; 1024];
    let mut name_len = dword(name.len());
    let (mut state, mut protocol): (Dword, Dword) = (0, 0);
    let mut atr = [0u8; ATR_BUFFER];
    let mut atr_len = dword(atr.len());
    // SAFETY: every buffer is writable for the length passed beside it, and every out-parameter is a valid place.
    let rv = unsafe {
        (api.status)(
            card,
            name.as_mut_ptr().cast(),
            &mut name_len,
            &mut state,
            &mut protocol,
            atr.as_mut_ptr(),
            &mut atr_len,
        )
    };
    check(rv)?;
    let len = usize::try_from(atr_len).unwrap_or(0).min(atr.len());
    Ok((state, protocol, atr.get(..len).unwrap_or_default().to_vec()))
}

/// A context handle, released when the last `Context` clone and the last `Card` of it are dropped: a card handle
/// is only valid while its context is (pcsc-lite's `winscard.h`, `SCardReleaseContext`).
#[derive(Debug)]
pub(crate) struct ContextHandle(pub(crate) Handle);

impl Drop for ContextHandle {
    fn drop(&mut self) {
        release_context(self.0);
    }
}
