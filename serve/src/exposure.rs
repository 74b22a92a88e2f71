//! Whether the vpcd ports `serve` connects to are open to other hosts, not only to this machine.
//!
//! Debian's vpcd (`vsmartcard-vpcd`) opens each slot port with `bind(INADDR_ANY)` (`opensock()` in vsmartcard's
//! `virtualsmartcard/src/vpcd/vpcd.c`): any host that reaches the machine on that port can put a "card" in the
//! reader before `serve` does, receive every APDU an application sends (PIN VERIFYs included) and answer as it
//! likes. The project's build (`scripts/build-vpcd-16`, patched by `scripts/vpcd-loopback.patch`) listens on
//! 127.0.0.1 only.
//!
//! The check asks the machine itself: a TCP connect to each of its own non-loopback addresses (from
//! [`if_addrs::get_if_addrs`]) on each slot port, with a short timeout. Only those addresses are ever tried, and
//! only when the vpcd address is one of this machine's: never another host. `serve` checks once its slots are
//! connected: vpcd accepts one connection per slot, so an accepted probe waits in the listen queue behind
//! `serve`'s own and is closed at once; the reader never sees it as a card. That queue has one place (vpcd calls
//! `listen(sock, 0)`) and the probe keeps it until `serve` lets go of the slot, so a port is probed until the first
//! address that answers: one is enough to warn, and further connects would only wait out [`PROBE_TIMEOUT`].

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6, TcpStream};
use std::time::Duration;

/// How long one connect to one of the machine's own addresses may take: they answer at once (accept or refuse).
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(300);

/// One address of the machine, with its interface index (the scope of an IPv6 link-local address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalAddr {
    /// The address.
    pub ip: IpAddr,
    /// The interface's index, when the system gives one.
    pub index: Option<u32>,
}

/// The machine's interface addresses, loopback included; none when they cannot be listed (the check then says
/// nothing, rather than guess).
pub fn local_addrs() -> Vec<LocalAddr> {
    if_addrs::get_if_addrs()
        .map(|all| all.iter().map(|i| LocalAddr { ip: i.ip(), index: i.index }).collect())
        .unwrap_or_default()
}

/// The socket address of `port` on `local`: IPv6 link-local addresses carry their interface as scope.
fn socket_addr(local: &LocalAddr, port: u16) -> SocketAddr {
    match local.ip {
        IpAddr::V6(ip) if is_link_local_v6(&ip) => SocketAddrV6::new(ip, port, 0, local.index.unwrap_or(0)).into(),
        ip => SocketAddr::new(ip, port),
    }
}

/// fe80::/10 (RFC 4291 §2.5.6).
fn is_link_local_v6(ip: &Ipv6Addr) -> bool {
    ip.segments()[0] & 0xffc0 == 0xfe80
}

/// Whether `ip` is this machine's: loopback, or one of `locals`.
fn is_this_machine(ip: IpAddr, locals: &[LocalAddr]) -> bool {
    ip.is_loopback() || locals.iter().any(|l| l.ip == ip)
}

/// The addresses at which the `ports` of vpcd at `vpcd` answer other hosts: for each port, the first non-loopback
/// address of `locals` that `probe` reaches on it. Empty when `vpcd` is not this machine's (it is not ours to
/// test). The ports are probed at once, one thread each: 16 slots take no longer than one.
pub fn exposed(
    vpcd: IpAddr,
    ports: &[u16],
    locals: &[LocalAddr],
    probe: &(dyn Fn(&SocketAddr) -> bool + Sync),
) -> Vec<SocketAddr> {
    if !is_this_machine(vpcd, locals) {
        return Vec::new();
    }
    let outside: Vec<&LocalAddr> = locals.iter().filter(|l| !l.ip.is_loopback() && !l.ip.is_unspecified()).collect();
    let first_answer = |port: u16| outside.iter().map(|l| socket_addr(l, port)).find(|a| probe(a));
    std::thread::scope(|scope| {
        let probes: Vec<_> = ports.iter().map(|&p| scope.spawn(move || first_answer(p))).collect();
        probes.into_iter().filter_map(|p| p.join().ok().flatten()).collect()
    })
}

/// A TCP connect to `addr` within [`PROBE_TIMEOUT`], closed at once.
pub fn tcp_probe(addr: &SocketAddr) -> bool {
    TcpStream::connect_timeout(addr, PROBE_TIMEOUT).is_ok()
}

/// The warning for `exposed` addresses (from [`exposed`]), or none when there are none.
pub fn warning(exposed: &[SocketAddr]) -> Option<String> {
    let list: Vec<String> = exposed.iter().map(SocketAddr::to_string).collect();
    let first = list.first()?;
    let more = match list.len() {
        1 => String::new(),
        n => format!(" (and {} more: {})", n - 1, list[1..].join(", ")),
    };
    Some(format!(
        "warning: the vpcd reader is reachable from other hosts at {first}{more}, not only on 127.0.0.1: any host \
         that reaches this machine can put a card in the reader and receive every APDU sent to it, PIN VERIFYs \
         included. Debian's vpcd listens on every interface; use the project's driver (`scripts/build-vpcd-16`, \
         loaded by `scripts/with-pcscd` and `scripts/with-pcscd-isolated`) or firewall the port."
    ))
}

/// The warning for vpcd at `vpcd` with slot `ports`, from this machine's own addresses and real connects.
pub fn check(vpcd: IpAddr, ports: &[u16]) -> Option<String> {
    warning(&exposed(vpcd, ports, &local_addrs(), &tcp_probe))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, TcpListener};
    use std::sync::Mutex;

    fn local(ip: &str, index: Option<u32>) -> LocalAddr {
        LocalAddr { ip: ip.parse().unwrap(), index }
    }

    fn machine() -> Vec<LocalAddr> {
        vec![
            local("127.0.0.1", Some(1)),
            local("::1", Some(1)),
            local("10.200.7.1", Some(5)),
            local("fe80::1", Some(5)),
        ]
    }

    #[test]
    fn only_the_machines_own_non_loopback_addresses_are_tried() {
        let tried = Mutex::new(Vec::new());
        let probe = |a: &SocketAddr| {
            tried.lock().unwrap().push(*a);
            false
        };
        assert!(exposed(Ipv4Addr::LOCALHOST.into(), &[35963, 35964], &machine(), &probe).is_empty());
        let mut tried: Vec<String> = tried.into_inner().unwrap().iter().map(ToString::to_string).collect();
        tried.sort();
        assert_eq!(tried, ["10.200.7.1:35963", "10.200.7.1:35964", "[fe80::1%5]:35963", "[fe80::1%5]:35964"]);
    }

    #[test]
    fn a_vpcd_on_another_host_is_not_tried() {
        let tried = Mutex::new(0);
        let probe = |a: &SocketAddr| {
            *tried.lock().unwrap() += 1;
            a.is_ipv4()
        };
        assert!(exposed("192.0.2.9".parse().unwrap(), &[35963], &machine(), &probe).is_empty());
        assert_eq!(*tried.lock().unwrap(), 0);
        let found = exposed("10.200.7.1".parse().unwrap(), &[35963], &machine(), &probe);
        assert_eq!(found, ["10.200.7.1:35963".parse::<SocketAddr>().unwrap()]);
        assert_eq!(*tried.lock().unwrap(), 1, "a port is not probed past the first address that answers");
    }

    #[test]
    fn the_warning_names_the_addresses_and_the_fix() {
        assert_eq!(warning(&[]), None);
        let addrs: Vec<SocketAddr> = vec!["10.200.7.1:35963".parse().unwrap(), "10.200.7.1:35964".parse().unwrap()];
        let text = warning(&addrs).unwrap();
        assert!(text.contains("at 10.200.7.1:35963 (and 1 more: 10.200.7.1:35964)"), "{text}");
        assert!(text.contains("scripts/build-vpcd-16") && text.contains("firewall"), "{text}");
    }

    #[test]
    fn a_listener_on_loopback_only_is_not_exposed() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(tcp_probe(&listener.local_addr().unwrap()), "the probe reaches the loopback listener");
        assert_eq!(check(Ipv4Addr::LOCALHOST.into(), &[port]), None);
    }

    #[test]
    fn a_listener_on_every_interface_is_exposed_at_the_machines_first_ipv4_address() {
        let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let locals = local_addrs();
        assert!(locals.iter().any(|l| l.ip.is_loopback()), "if-addrs lists loopback: {locals:?}");
        // The first IPv4 one: the listener has no IPv6 side, and a port is not probed past the first answer.
        let mut ipv4 = locals.iter().filter(|l| l.ip.is_ipv4() && !l.ip.is_loopback());
        let expected: Vec<SocketAddr> = ipv4.next().map(|l| SocketAddr::new(l.ip, port)).into_iter().collect();
        assert_eq!(exposed(Ipv4Addr::LOCALHOST.into(), &[port], &locals, &tcp_probe), expected);
    }
}
