//! Fuzz target: every google2019 table reader, strict and lenient, on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use traces::{ReadOptions, TraceFormat, TraceReader};

fuzz_target!(|data: &[u8]| {
    for &table in TraceFormat::Google2019.tables() {
        for lenient in [false, true] {
            let options = ReadOptions { table: None, lenient };
            let input = Box::new(std::io::Cursor::new(data.to_vec()));
            if let Ok(reader) = TraceReader::from_reader(table, "fuzz", input, &options) {
                for _ in reader.take(1 << 16) {}
            }
        }
    }
});
