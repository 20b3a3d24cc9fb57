//! The Parquet page compression a writer uses: the one type every command's
//! `--compression` flag parses into.

use std::fmt;
use std::str::FromStr;

use parquet::basic::{BrotliLevel, GzipLevel, ZstdLevel};

/// Page compression of a written Parquet file. CSV output ignores it.
///
/// The default is [`Compression::Zstd`] (level 1): about as fast to write as snappy and
/// markedly smaller, and read by pyarrow, polars, pandas, DuckDB and Spark alike.
/// Commands take it as `--compression NAME`, parsed with [`FromStr`] (names in
/// [`Compression::NAMES`], any letter case) and passed to a writer constructor such as
/// [`crate::io::EventWriter::create_with`] or [`crate::io::RowWriter::create`]:
///
/// ```
/// use coalescope_timeline::io::Compression;
/// let c: Compression = "LZ4".parse().unwrap();
/// assert_eq!(c, Compression::Lz4);
/// assert_eq!(Compression::default().to_string(), "zstd");
/// assert!("lzo".parse::<Compression>().unwrap_err().to_string().contains("zstd"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// No compression.
    Uncompressed,
    /// Snappy.
    Snappy,
    /// Zstandard, level 1 (the default).
    #[default]
    Zstd,
    /// LZ4 in the `LZ4_RAW` codec (plain LZ4 blocks; what pyarrow, polars and DuckDB
    /// write for `lz4`). Readers also accept the legacy Hadoop-framed `LZ4` codec.
    Lz4,
    /// Gzip (deflate), level 6.
    Gzip,
    /// Brotli, level 1.
    Brotli,
}

impl Compression {
    /// Every accepted name, in the order help texts list them.
    pub const NAMES: [&'static str; 6] =
        ["uncompressed", "snappy", "zstd", "lz4", "gzip", "brotli"];

    /// Every variant, in the order of [`Compression::NAMES`].
    pub const ALL: [Compression; 6] = [
        Compression::Uncompressed,
        Compression::Snappy,
        Compression::Zstd,
        Compression::Lz4,
        Compression::Gzip,
        Compression::Brotli,
    ];

    /// The flag value naming this compression (`zstd`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Compression::Uncompressed => "uncompressed",
            Compression::Snappy => "snappy",
            Compression::Zstd => "zstd",
            Compression::Lz4 => "lz4",
            Compression::Gzip => "gzip",
            Compression::Brotli => "brotli",
        }
    }

    /// The parquet crate's codec setting for this choice.
    pub(crate) fn to_parquet(self) -> parquet::basic::Compression {
        use parquet::basic::Compression as P;
        match self {
            Compression::Uncompressed => P::UNCOMPRESSED,
            Compression::Snappy => P::SNAPPY,
            Compression::Zstd => P::ZSTD(ZstdLevel::default()),
            Compression::Lz4 => P::LZ4_RAW,
            Compression::Gzip => P::GZIP(GzipLevel::default()),
            Compression::Brotli => P::BROTLI(BrotliLevel::default()),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A compression name that is not one of [`Compression::NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown compression `{0}`: expected one of uncompressed, snappy, zstd, lz4, gzip, brotli")]
pub struct UnknownCompression(pub String);

impl FromStr for Compression {
    type Err = UnknownCompression;

    /// Parse a name of [`Compression::NAMES`] (any letter case); `none` is accepted for
    /// `uncompressed`, as pyarrow spells it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        if lower == "none" {
            return Ok(Compression::Uncompressed);
        }
        Compression::ALL
            .into_iter()
            .find(|c| c.as_str() == lower)
            .ok_or_else(|| UnknownCompression(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for (c, name) in Compression::ALL.into_iter().zip(Compression::NAMES) {
            assert_eq!(c.as_str(), name);
            assert_eq!(name.parse::<Compression>(), Ok(c));
            assert_eq!(name.to_uppercase().parse::<Compression>(), Ok(c));
        }
        assert_eq!("none".parse(), Ok(Compression::Uncompressed));
        assert_eq!(
            "lz4_raw".parse::<Compression>(),
            Err(UnknownCompression("lz4_raw".into()))
        );
        assert_eq!(Compression::default(), Compression::Zstd);
    }
}
