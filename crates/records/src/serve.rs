//! The serving protocol: inference requests sent to `isobench-agent serve`
//! and its responses, as length-prefixed frames carried one per line.
//!
//! # Frame format, version 1
//!
//! ```text
//! @ISB1 <len> <json>\n
//! ```
//!
//! `<len>` is the decimal byte length of `<json>` (at most 7 digits); a
//! reader checks it against the bytes actually received, so a frame cut or
//! interleaved by other output (a serial console carrying kernel messages,
//! a multiplexed `docker attach` stream) is detected, not misread. Text
//! before the marker on the same line is ignored, lines without the marker
//! are noise. Requests are at most [`MAX_REQUEST_BYTES`] of JSON, responses
//! at most [`MAX_RESPONSE_BYTES`].
//!
//! The agent answers every request line with exactly one response frame,
//! also when the request is malformed (then `ok` is false, `error` says
//! why, and `id` is the request's id when it could be read, else 0).

use std::io::BufRead;

use serde::{Deserialize, Serialize};

use crate::Digest;

/// Marker that starts every frame (protocol version 1).
pub const FRAME_PREFIX: &str = "@ISB1 ";

/// Largest request payload (JSON bytes) the agent accepts.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Largest response payload (JSON bytes) the host accepts.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// Longest `<len>` field accepted: 7 digits cover [`MAX_RESPONSE_BYTES`].
const MAX_LEN_DIGITS: usize = 7;

/// One inference request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Caller-chosen identifier, echoed in the response (use ids from 1; 0
    /// marks responses to requests whose id could not be read).
    pub id: u64,
    /// Input the workload knows (an image file name, a sample index, a range
    /// `A..B`, `test-split`), or empty for the workload's next default input.
    #[serde(default)]
    pub input: String,
    /// An empty request: answered at once without inference, to measure the
    /// transport's own round trip.
    #[serde(default)]
    pub empty: bool,
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The request's id (0 when the request could not be read).
    pub id: u64,
    /// True when the request was served.
    pub ok: bool,
    /// Why the request failed (`ok == false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Name of the input processed (empty for empty requests and errors).
    #[serde(default)]
    pub input: String,
    /// Preprocessing time inside the agent, µs.
    #[serde(default)]
    pub preprocess_us: u64,
    /// Model execution time inside the agent, µs.
    #[serde(default)]
    pub inference_us: u64,
    /// Postprocessing time inside the agent, µs.
    #[serde(default)]
    pub postprocess_us: u64,
    /// Digest of the result (absent for empty requests and errors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
}

impl Response {
    /// A failed response.
    pub fn failure(id: u64, error: impl Into<String>) -> Self {
        Response {
            id,
            ok: false,
            error: Some(error.into()),
            input: String::new(),
            preprocess_us: 0,
            inference_us: 0,
            postprocess_us: 0,
            digest: None,
        }
    }

    /// The answer to an empty request.
    pub fn empty(id: u64) -> Self {
        Response {
            id,
            ok: true,
            error: None,
            input: String::new(),
            preprocess_us: 0,
            inference_us: 0,
            postprocess_us: 0,
            digest: None,
        }
    }
}

/// Errors reading a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The length field is missing, not a number, or not followed by a space.
    #[error("malformed frame: bad length field ({0}); frames are `@ISB1 <len> <json>`")]
    BadLength(String),
    /// The declared length exceeds the limit.
    #[error("frame of {len} bytes exceeds the {max}-byte limit; send smaller requests")]
    Oversize {
        /// Declared (or received) length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The payload is not as long as declared (cut or interleaved with other output).
    #[error("frame declares {declared} bytes but carries {found}; the frame was cut or mixed with other output")]
    LengthMismatch {
        /// Declared length.
        declared: usize,
        /// Bytes found on the line.
        found: usize,
    },
    /// The payload is not valid JSON of the expected message.
    #[error("malformed frame payload: {0}")]
    BadJson(String),
}

/// Encodes a JSON payload as one frame line, newline included.
pub fn encode_frame(json: &str) -> String {
    format!("{FRAME_PREFIX}{} {json}\n", json.len())
}

/// Encodes a request as a frame line.
pub fn encode_request(request: &Request) -> String {
    encode_frame(&serde_json::to_string(request).expect("requests always serialise"))
}

/// Encodes a response as a frame line.
pub fn encode_response(response: &Response) -> String {
    encode_frame(&serde_json::to_string(response).expect("responses always serialise"))
}

/// True when `line` holds a frame marker.
pub fn has_frame(line: &[u8]) -> bool {
    find(line, FRAME_PREFIX.as_bytes()).is_some()
}

/// Finds the frame in one line and returns its JSON payload, checked against
/// the declared length and [`MAX_RESPONSE_BYTES`]. `Ok(None)`: no marker
/// (noise). Never panics, whatever the bytes (fuzzable).
pub fn parse_frame(line: &[u8]) -> Result<Option<&[u8]>, FrameError> {
    parse_frame_limited(line, MAX_RESPONSE_BYTES)
}

/// [`parse_frame`] with a payload limit of `max` bytes.
pub fn parse_frame_limited(line: &[u8], max: usize) -> Result<Option<&[u8]>, FrameError> {
    let Some(start) = find(line, FRAME_PREFIX.as_bytes()) else {
        return Ok(None);
    };
    let rest = &line[start + FRAME_PREFIX.len()..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return Err(BadLengthOf(rest).into());
    }
    let len = rest[..digits].iter().fold(0usize, |n, d| {
        n.saturating_mul(10).saturating_add(usize::from(d - b'0'))
    });
    if digits > MAX_LEN_DIGITS || len > max {
        return Err(FrameError::Oversize { len, max });
    }
    if rest.get(digits) != Some(&b' ') {
        return Err(BadLengthOf(rest).into());
    }
    let mut payload = &rest[digits + 1..];
    while let Some((last, head)) = payload.split_last() {
        if matches!(last, b'\n' | b'\r') {
            payload = head;
        } else {
            break;
        }
    }
    if payload.len() != len {
        return Err(FrameError::LengthMismatch {
            declared: len,
            found: payload.len(),
        });
    }
    Ok(Some(payload))
}

struct BadLengthOf<'a>(&'a [u8]);

impl From<BadLengthOf<'_>> for FrameError {
    fn from(b: BadLengthOf<'_>) -> Self {
        let shown: String = String::from_utf8_lossy(b.0).chars().take(20).collect();
        FrameError::BadLength(format!("found `{shown}`"))
    }
}

/// Reads a request from one line (limit [`MAX_REQUEST_BYTES`]).
/// `Ok(None)`: the line holds no frame.
pub fn decode_request(line: &[u8]) -> Result<Option<Request>, FrameError> {
    let Some(payload) = parse_frame_limited(line, MAX_REQUEST_BYTES)? else {
        return Ok(None);
    };
    serde_json::from_slice(payload)
        .map(Some)
        .map_err(|e| FrameError::BadJson(e.to_string()))
}

/// Reads a response from one line (limit [`MAX_RESPONSE_BYTES`]).
/// `Ok(None)`: the line holds no frame.
pub fn decode_response(line: &[u8]) -> Result<Option<Response>, FrameError> {
    let Some(payload) = parse_frame(line)? else {
        return Ok(None);
    };
    let response: Response =
        serde_json::from_slice(payload).map_err(|e| FrameError::BadJson(e.to_string()))?;
    if let Some(field) = response.digest.as_ref().and_then(Digest::non_finite_field) {
        return Err(FrameError::BadJson(format!("`{field}` is out of range")));
    }
    Ok(Some(response))
}

/// Best effort: the `id` of a request that failed to decode, so its error
/// response can be matched; 0 when none can be read.
pub fn salvage_id(line: &[u8]) -> u64 {
    parse_frame_limited(line, MAX_REQUEST_BYTES)
        .ok()
        .flatten()
        .and_then(|payload| serde_json::from_slice::<serde_json::Value>(payload).ok())
        .and_then(|v| v.get("id").and_then(serde_json::Value::as_u64))
        .unwrap_or(0)
}

/// What [`read_line_bounded`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundedLine {
    /// End of stream, nothing read.
    Eof,
    /// A line (in the buffer, newline stripped).
    Line,
    /// A line longer than the limit: discarded up to its newline; its length.
    TooLong(usize),
}

/// Reads one line of at most `max` bytes into `buf` (cleared first). A
/// longer line is consumed and dropped, so a peer cannot make the reader
/// hold more than `max` bytes.
pub fn read_line_bounded<R: BufRead + ?Sized>(
    reader: &mut R,
    max: usize,
    buf: &mut Vec<u8>,
) -> std::io::Result<BoundedLine> {
    buf.clear();
    let mut total = 0usize;
    let mut too_long = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(if total == 0 {
                BoundedLine::Eof
            } else if too_long {
                BoundedLine::TooLong(total)
            } else {
                BoundedLine::Line
            });
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..i], Some(i + 1)),
            None => (available, None),
        };
        total += chunk.len();
        if !too_long {
            if buf.len() + chunk.len() > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let used = done.unwrap_or(available.len());
        reader.consume(used);
        if done.is_some() {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(if too_long {
                BoundedLine::TooLong(total)
            } else {
                BoundedLine::Line
            });
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request {
        Request {
            id: 7,
            input: "bus.jpg".into(),
            empty: false,
        }
    }

    /// A successful response carrying one text box.
    fn text_boxes_response(bbox: [f32; 4]) -> Response {
        Response {
            id: 7,
            ok: true,
            error: None,
            input: "bus.jpg".into(),
            preprocess_us: 1,
            inference_us: 2,
            postprocess_us: 3,
            digest: Some(Digest::TextBoxes {
                count: 1,
                boxes: vec![bbox],
            }),
        }
    }

    #[test]
    fn round_trips_requests_and_responses() {
        let line = encode_request(&request());
        assert!(line.starts_with("@ISB1 ") && line.ends_with('\n'), "{line}");
        assert_eq!(decode_request(line.as_bytes()).unwrap(), Some(request()));
        let response = text_boxes_response([1.0, 2.0, 3.0, 4.0]);
        let line = encode_response(&response);
        assert_eq!(decode_response(line.as_bytes()).unwrap(), Some(response));
        let failure = Response::failure(0, "unknown input");
        let line = encode_response(&failure);
        assert_eq!(decode_response(line.as_bytes()).unwrap(), Some(failure));
    }

    #[test]
    fn a_box_beyond_f32_range_is_bad_json_not_infinity() {
        let response = text_boxes_response([1.0, 2.0, 3.0, 12345.0]);
        let payload = serde_json::to_string(&response)
            .unwrap()
            .replace("12345.0", "1e300");
        let line = format!("@ISB1 {} {payload}\n", payload.len());
        let err = decode_response(line.as_bytes()).unwrap_err();
        assert!(
            matches!(&err, FrameError::BadJson(m) if m.contains("`boxes` is out of range")),
            "{err}"
        );
    }

    #[test]
    fn finds_frames_after_console_noise_and_ignores_plain_lines() {
        let line = format!(
            "[ 1.0] kernel text {}\r\n",
            encode_request(&request()).trim_end()
        );
        assert_eq!(decode_request(line.as_bytes()).unwrap(), Some(request()));
        assert_eq!(decode_request(b"[ 0.0] Linux version 6.1").unwrap(), None);
        assert_eq!(decode_request(b"").unwrap(), None);
        assert!(has_frame(line.as_bytes()) && !has_frame(b"{\"v\":1}"));
    }

    #[test]
    fn rejects_bad_lengths_with_clear_errors() {
        let bad = |s: &str| decode_request(s.as_bytes()).unwrap_err();
        assert!(matches!(bad("@ISB1 x {}"), FrameError::BadLength(_)));
        assert!(matches!(bad("@ISB1 2{}"), FrameError::BadLength(_)));
        assert!(matches!(bad("@ISB1 "), FrameError::BadLength(_)));
        assert_eq!(
            bad("@ISB1 5 {}"),
            FrameError::LengthMismatch {
                declared: 5,
                found: 2
            }
        );
        assert_eq!(
            bad("@ISB1 99999 {}"),
            FrameError::Oversize {
                len: 99999,
                max: MAX_REQUEST_BYTES
            }
        );
        assert!(matches!(
            bad("@ISB1 123456789012 {}"),
            FrameError::Oversize { .. }
        ));
        assert!(bad("@ISB1 5 {}").to_string().contains("cut or mixed"));
    }

    #[test]
    fn rejects_bad_json_and_salvages_the_id() {
        let line = encode_frame("{\"id\":9,\"input\":5}");
        let err = decode_request(line.as_bytes()).unwrap_err();
        assert!(matches!(err, FrameError::BadJson(_)), "{err}");
        assert_eq!(salvage_id(line.as_bytes()), 9);
        assert_eq!(salvage_id(encode_frame("{nope").as_bytes()), 0);
        assert_eq!(salvage_id(b"@ISB1 5 {}"), 0);
        // Missing optional fields take their defaults.
        let minimal = encode_frame("{\"id\":3}");
        assert_eq!(
            decode_request(minimal.as_bytes()).unwrap(),
            Some(Request {
                id: 3,
                input: String::new(),
                empty: false
            })
        );
    }

    #[test]
    fn parse_frame_survives_arbitrary_bytes() {
        // A tiny deterministic fuzz loop: random prefixes, lengths, payloads.
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let pieces: [&[u8]; 8] = [
            b"@ISB1 ",
            b"12",
            b" ",
            b"{\"id\":1}",
            b"\r",
            b"\n",
            b"\xff\xfe",
            b"9999999",
        ];
        for _ in 0..20_000 {
            let mut line = Vec::new();
            for _ in 0..(next() % 6) {
                line.extend_from_slice(pieces[(next() % 8) as usize]);
            }
            let _ = parse_frame(&line);
            let _ = decode_request(&line);
            let _ = decode_response(&line);
            let _ = salvage_id(&line);
        }
    }

    #[test]
    fn bounded_reader_drops_long_lines_and_keeps_going() {
        let mut input = Vec::new();
        input.extend_from_slice(b"short\r\n");
        input.extend_from_slice(&[b'x'; 100]);
        input.extend_from_slice(b"\nafter\nlast");
        let mut reader = std::io::BufReader::with_capacity(16, &input[..]);
        let mut buf = Vec::new();
        assert_eq!(
            read_line_bounded(&mut reader, 10, &mut buf).unwrap(),
            BoundedLine::Line
        );
        assert_eq!(buf, b"short");
        assert_eq!(
            read_line_bounded(&mut reader, 10, &mut buf).unwrap(),
            BoundedLine::TooLong(100)
        );
        assert!(buf.is_empty());
        assert_eq!(
            read_line_bounded(&mut reader, 10, &mut buf).unwrap(),
            BoundedLine::Line
        );
        assert_eq!(buf, b"after");
        assert_eq!(
            read_line_bounded(&mut reader, 10, &mut buf).unwrap(),
            BoundedLine::Line
        );
        assert_eq!(buf, b"last");
        assert_eq!(
            read_line_bounded(&mut reader, 10, &mut buf).unwrap(),
            BoundedLine::Eof
        );
    }
}
