//! Incremental Internet checksum update (RFC 1624, eqn. 3).

/// Returns the checksum `check` (as stored, network order) after one 16-bit
/// word of the covered data changed from `old` to `new` (both network order).
#[inline(always)]
pub fn replace16(check: u16, old: u16, new: u16) -> u16 {
    // HC' = ~(~HC + ~m + m')
    let mut sum = (!check as u32) + (!old as u32 & 0xffff) + new as u32;
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

/// Returns the checksum after a 32-bit field (an IPv4 address, as on the
/// wire) changed from `old` to `new`.
#[inline(always)]
pub fn replace32(check: u16, old: [u8; 4], new: [u8; 4]) -> u16 {
    let c = replace16(check, u16::from_ne_bytes([old[0], old[1]]), u16::from_ne_bytes([new[0], new[1]]));
    replace16(c, u16::from_ne_bytes([old[2], old[3]]), u16::from_ne_bytes([new[2], new[3]]))
}
