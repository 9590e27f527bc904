//! Shape classes for the tuner: problems whose sizes fall in the same log₂
//! buckets behave alike, so one measured choice serves them all. The tuner
//! itself is the device's ([`weft_device::Tuner`]); [`crate::registry::Table::run`]
//! consults it and, in [`weft_device::TuneMode::OnFirstUse`], times the
//! candidates.

/// log2 bucket of a size, for shape classes.
pub fn bucket(v: usize) -> u32 {
    usize::BITS - v.max(1).leading_zeros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_log2() {
        assert_eq!(
            (bucket(0), bucket(1), bucket(2), bucket(3), bucket(1024)),
            (1, 1, 2, 2, 11)
        );
    }
}
