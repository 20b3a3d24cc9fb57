//! libFuzzer target: any byte string through the capture reader and the UDP / sequence
//! pipeline must end in packets, counted anomalies or a `CaptureError`, never a panic.
//! Seed it with the conformance captures: `cargo +nightly fuzz run read_capture
//! ../../../testdata/pcapng/output_le/basic ../../../testdata/pcap`.
#![no_main]

use std::io::Cursor;

use coalescope_capture::{ingress_from_reader, CaptureConfig, CaptureReader, SeqSpec};
use coalescope_timeline::Strings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut reader) = CaptureReader::new(Cursor::new(data), "fuzz") {
        while let Ok(Some(packet)) = reader.next_packet() {
            assert_eq!(packet.data.len(), packet.caplen as usize);
        }
    }
    if let Ok(reader) = CaptureReader::new(Cursor::new(data), "fuzz") {
        let mut strings = Strings::new();
        let config = CaptureConfig::new(SeqSpec::MOLDUDP64);
        let _ = ingress_from_reader(reader, &config, &mut strings, |_| {});
    }
});
