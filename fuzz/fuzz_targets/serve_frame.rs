//! Serving frames: what the agent reads from a client and the host reads
//! from an agent. Never panic; a request or response that decodes re-encodes
//! to itself.
#![no_main]
use isobench_records::serve::{decode_request, decode_response, encode_request, encode_response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(response)) = decode_response(data) {
        let line = encode_response(&response);
        let again = decode_response(line.as_bytes()).expect("an encoded response decodes");
        assert_eq!(again, Some(response));
    }
    if let Ok(Some(request)) = decode_request(data) {
        let line = encode_request(&request);
        let again = decode_request(line.as_bytes()).expect("an encoded request decodes");
        assert_eq!(again, Some(request));
    }
});
