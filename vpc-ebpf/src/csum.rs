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
