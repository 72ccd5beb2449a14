//! Address ranges in CIDR notation, for `twitcher.trusted_proxies`.

use std::net::IpAddr;

/// One range: an address and how many leading bits must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    bits: u8,
}

impl Cidr {
    /// `10.0.0.0/8`, `::1/128`, or a bare address (all its bits).
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address or CIDR range"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) => match b.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("`{s}`: prefix length must be 0 to {max}")),
            },
        };
        Ok(Cidr { addr, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 peer may arrive as an IPv4-mapped IPv6 address on a dual-stack socket.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(&net.octets(), &ip.octets(), self.bits),
            (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_eq(&net.octets(), &ip.octets(), self.bits),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let full = (bits / 8) as usize;
    if a[..full] != b[..full] {
        return false;
    }
    let rest = bits % 8;
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    a[full] & mask == b[full] & mask
}

/// A comma- or space-separated list; every entry must parse.
pub fn parse_list(s: &str) -> Result<Vec<Cidr>, String> {
    s.split([',', ' ', '\t', '\n'])
        .filter(|p| !p.is_empty())
        .map(Cidr::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges() {
        let l = parse_list("10.0.0.0/8, 192.168.1.7 ::1 fd00::/8").unwrap();
        assert!(l[0].contains(ip("10.200.3.4")));
        assert!(!l[0].contains(ip("11.0.0.1")));
        assert!(l[1].contains(ip("192.168.1.7")));
        assert!(!l[1].contains(ip("192.168.1.8")));
        assert!(l[2].contains(ip("::1")));
        assert!(l[3].contains(ip("fd12::5")));
        assert!(!l[3].contains(ip("10.0.0.1")));
        assert!(l[0].contains(ip("::ffff:10.1.2.3")), "IPv4-mapped");
        let odd = Cidr::parse("172.16.0.0/12").unwrap();
        assert!(odd.contains(ip("172.31.255.1")));
        assert!(!odd.contains(ip("172.32.0.1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(parse_list("10.0.0.0/33").is_err());
        assert!(parse_list("nope").is_err());
        assert!(parse_list("").unwrap().is_empty());
    }
}
