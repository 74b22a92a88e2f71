//! A card whose image cannot be saved answers `6581` and loses nothing: the folder gone or replaced by a file, a
//! full disk, a read-only file system. Each test runs the real save path (`InProcessReader` → `image::save_atomic`)
//! and checks the bytes on disk and what the next APDU sees.
//!
//! The full and read-only disks are real tmpfs mounts. So that the tests need no root, the test binary runs the one
//! test again inside a private user and mount namespace (`unshare --user --map-root-user --mount`, util-linux),
//! mounts the tmpfs there and does the work; the outer test checks that it ran and passed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use card_os::Platform;
use common::*;
use reader_sim::image::save_atomic;
use reader_sim::{ImageFileError, InProcessReader, ReaderError, Transmit};

/// Set in the namespaced run: the folder the tmpfs is mounted on.
const TMPFS_DIR: &str = "ZORGCARD_TEST_TMPFS_DIR";

/// CHANGE REFERENCE DATA of the user PIN: `old‖new`.
fn change_pin(old: &[u8], new: &[u8]) -> Vec<u8> {
    apdu([0x00, 0x24, 0x00, 0x01], &[old, new].concat())
}

/// A personalised card's image written to `dir/name`; returns its path and bytes.
fn image_in(dir: &Path, name: &str) -> (PathBuf, Vec<u8>) {
    let bytes = card_with_pin().platform().nvm().as_bytes().to_vec();
    let path = dir.join(name);
    save_atomic(&path, &bytes).unwrap();
    (path, bytes)
}

/// A powered reader on the image at `path`.
fn open(path: &Path) -> InProcessReader {
    let mut reader = InProcessReader::open(path).unwrap();
    reader.power_on().unwrap();
    reader
}

/// Sends `apdu`, expects the save to fail, and returns the error's message after checking that it names `path`.
fn save_fails(reader: &mut InProcessReader, apdu: &[u8], path: &Path) -> String {
    let err = match reader.transmit(apdu) {
        Err(e @ ReaderError::Save(_)) => e,
        other => panic!("expected a failed save (6581), got {other:02X?}"),
    };
    let message = err.to_string();
    assert!(message.contains("6581"), "{message}");
    assert!(message.contains(&format!("`{}`", path.display())), "the error names the file: {message}");
    message
}

/// The file names in `dir`, sorted: a failed save leaves no temporary file behind.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// Wrong PIN, correct PIN and a PIN change, each while the image cannot be written: every one answers `6581`,
/// the file keeps its bytes, and the card's next answers are those of a card that never saw the command. Then
/// `repair` makes the folder writable again and the same commands take effect and reach the disk.
fn nothing_is_lost(path: &Path, bytes: &[u8], break_it: impl Fn(), repair: impl Fn(), on_disk: impl Fn() -> Vec<u8>) {
    let mut reader = open(path);
    assert_eq!(reader.transmit(&verify(b"000000")).unwrap(), [0x63, 0xC2], "a wrong PIN, saved");
    let before = std::fs::read(path).unwrap();
    assert_ne!(before, bytes);

    break_it();
    let message = save_fails(&mut reader, &verify(b"000000"), path);
    assert_eq!(on_disk(), before, "a failed save changed the image: {message}");
    assert_eq!(pin_tries_left(reader.card().unwrap()), 2, "the try that could not be stored was given back in RAM");
    assert_eq!(reader.transmit(&VERIFY_STATUS).unwrap(), [0x63, 0xC2], "the next APDU sees the pre-command state");

    // The right PIN: the counter is decremented before the compare, so this write fails too, and the answer is
    // 6581, not 9000: no compare result leaks, and the card is not left verified.
    save_fails(&mut reader, &verify(PIN), path);
    assert_eq!(reader.transmit(&VERIFY_STATUS).unwrap(), [0x63, 0xC2], "not verified, counter as before");
    save_fails(&mut reader, &change_pin(PIN, b"654321"), path);
    assert_eq!(on_disk(), before);

    repair();
    assert_eq!(reader.transmit(&change_pin(PIN, b"654321")).unwrap(), [0x90, 0x00], "the old PIN still works");
    assert_eq!(reader.transmit(&verify(b"654321")).unwrap(), [0x90, 0x00]);
    let reopened = InProcessReader::open(path).unwrap();
    assert_eq!(pin_tries_left(reopened.card().unwrap()), 3, "the reset counter reached the disk");
    assert_ne!(on_disk(), before);
}

/// A folder replaced by a file (`ENOTDIR`) is the read-only folder that stops root too.
#[test]
fn a_folder_replaced_by_a_file_answers_6581_and_keeps_the_image() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("cards");
    let moved = root.path().join("cards.moved");
    std::fs::create_dir(&dir).unwrap();
    let (path, bytes) = image_in(&dir, "alice.card");
    nothing_is_lost(
        &path,
        &bytes,
        || {
            std::fs::rename(&dir, &moved).unwrap();
            std::fs::write(&dir, b"not a folder").unwrap();
        },
        || {
            std::fs::remove_file(&dir).unwrap();
            std::fs::rename(&moved, &dir).unwrap();
        },
        || std::fs::read(if moved.exists() { moved.join("alice.card") } else { path.clone() }).unwrap(),
    );
    assert_eq!(names(&dir), ["alice.card"]);
}

#[test]
fn a_removed_folder_answers_6581_and_names_the_cause() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("cards");
    std::fs::create_dir(&dir).unwrap();
    let (path, bytes) = image_in(&dir, "bob.card");
    let mut reader = open(&path);
    std::fs::remove_dir_all(&dir).unwrap();
    let message = save_fails(&mut reader, &verify(b"000000"), &path);
    assert!(message.contains("No such file or directory"), "the cause: {message}");
    assert_eq!(pin_tries_left(reader.card().unwrap()), 3);
    // The folder comes back (a remounted share): the card goes on from what it was.
    std::fs::create_dir(&dir).unwrap();
    assert_eq!(reader.transmit(&verify(b"000000")).unwrap(), [0x63, 0xC2]);
    assert_eq!(std::fs::read(&path).unwrap().len(), bytes.len());
    assert_eq!(pin_tries_left(InProcessReader::open(&path).unwrap().card().unwrap()), 2);
}

/// A card put in a reader before its image file exists: a failed first save rolls back to the card as it was
/// given to the reader, and a later save writes it.
#[test]
fn a_card_never_saved_rolls_back_to_how_it_was_inserted() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not-yet");
    let path = missing.join("carol.card");
    let mut reader = InProcessReader::with_card(card_with_pin());
    reader.set_image_path(Some(path.clone()));
    reader.power_on().unwrap();
    let err = reader.transmit(&verify(b"000000")).unwrap_err();
    assert!(matches!(&err, ReaderError::Save(ImageFileError::Io { .. })), "{err}");
    assert!(err.to_string().contains("carol.card"), "{err}");
    assert_eq!(pin_tries_left(reader.card().unwrap()), 3);
    std::fs::create_dir(&missing).unwrap();
    assert_eq!(reader.transmit(&verify(b"000000")).unwrap(), [0x63, 0xC2]);
    assert_eq!(pin_tries_left(InProcessReader::open(&path).unwrap().card().unwrap()), 2);
}

/// Runs `body` on a tmpfs of `size` (a `mount -o size=` value) of its own. Outside the namespace, runs the test
/// `name` again inside one and checks that it passed there.
fn on_tmpfs(name: &str, size: &str, body: impl FnOnce(&Path)) {
    if let Ok(dir) = std::env::var(TMPFS_DIR) {
        body(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mount = r#"mount -t tmpfs -o size="$1" zorgcard-test "$2" && shift 2 && exec "$@""#;
    let out = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", mount, "sh", size])
        .arg(dir.path())
        .arg(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(TMPFS_DIR, dir.path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `unshare` ({e}): apt-get install util-linux"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success() && text.contains("1 passed"),
        "`{name}` on a tmpfs of its own failed (it needs user namespaces: `unshare --user --map-root-user --mount \
         true` must work; as root it always does):\n{text}"
    );
}

/// `mount`/`umount` inside the namespace.
fn mount(args: &[&str]) {
    let status = Command::new("mount").args(args).status().unwrap();
    assert!(status.success(), "mount {args:?}");
}

#[test]
fn a_full_disk_answers_6581_and_keeps_the_image() {
    on_tmpfs("a_full_disk_answers_6581_and_keeps_the_image", "256k", |dir| {
        let (path, bytes) = image_in(dir, "alice.card");
        let filler = dir.join("filler");
        let fill = || {
            use std::io::Write;
            let mut f = std::fs::File::create(&filler).unwrap();
            while f.write_all(&[0u8; 4096]).is_ok() {}
            // The data may sit in the page cache until flushed: ENOSPC then shows at sync.
            let _ = f.sync_all();
        };
        nothing_is_lost(
            &path,
            &bytes,
            fill,
            || std::fs::remove_file(&filler).unwrap(),
            || std::fs::read(&path).unwrap(),
        );
        assert_eq!(names(dir), ["alice.card"], "no temporary file left behind");
        let mut reader = open(&path);
        fill();
        let message = save_fails(&mut reader, &verify(b"000000"), &path);
        assert!(message.contains("No space left on device"), "the cause: {message}");
        assert_eq!(names(dir), ["alice.card", "filler"], "no temporary file left behind");
    });
}

#[test]
fn a_read_only_file_system_answers_6581_and_keeps_the_image() {
    on_tmpfs("a_read_only_file_system_answers_6581_and_keeps_the_image", "1m", |dir| {
        let (path, bytes) = image_in(dir, "alice.card");
        let dir_arg = dir.to_str().unwrap();
        nothing_is_lost(
            &path,
            &bytes,
            || mount(&["-o", "remount,ro", dir_arg]),
            || mount(&["-o", "remount,rw", dir_arg]),
            || std::fs::read(&path).unwrap(),
        );
        let mut reader = open(&path);
        mount(&["-o", "remount,ro", dir_arg]);
        let message = save_fails(&mut reader, &verify(b"000000"), &path);
        assert!(message.contains("Read-only file system"), "the cause: {message}");
        assert_eq!(names(dir), ["alice.card"]);
    });
}
