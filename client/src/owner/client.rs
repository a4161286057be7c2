//! A caller's side of the socket: one request line out, reply lines in; with no owner, the
//! store opened for the one call.

use super::*;

/// Outcome of talking to an owner.
pub(super) enum Talk<T> {
    Done(T),
    /// The owner went away mid-way (handover, exit): try again.
    Retry,
}

pub(super) fn connect(profile: &Profile) -> Option<UnixStream> {
    UnixStream::connect(profile.socket_path()).ok()
}

pub(super) fn write_request(stream: &mut UnixStream, req: &Request) -> Result<bool> {
    let line = wire::encode_request(req)?;
    Ok(stream.write_all(line.as_bytes()).is_ok())
}

/// Reads one reply line: `None` when the owner went away.
pub(super) fn read_reply(reader: &mut impl BufRead, line: &mut String) -> Option<Result<Response>> {
    line.clear();
    match reader.read_line(line) {
        Ok(n) if n > 0 => Some(wire::decode_reply(line)),
        _ => None,
    }
}

pub(super) fn call_over(mut stream: UnixStream, req: &Request) -> Talk<Result<Response>> {
    match write_request(&mut stream, req) {
        Ok(true) => {}
        Ok(false) => return Talk::Retry,
        Err(e) => return Talk::Done(Err(e)),
    }
    let mut line = String::new();
    match read_reply(&mut BufReader::new(stream), &mut line) {
        Some(r) => Talk::Done(r),
        None => Talk::Retry,
    }
}

/// Answers one call that is not a stream: through the owner's socket, or, with no owner, on
/// the store directly (waiting while another process holds it).
pub fn call(profile: &Profile, req: &Request) -> Result<Response> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        if let Some(stream) = connect(profile)
            && let Talk::Done(r) = call_over(stream, req)
        {
            return r;
        }
        match Local::open(profile) {
            Ok(local) => {
                let result = local.execute(req);
                let flushed = local.flush();
                return result.and_then(|v| flushed.map(|_| v));
            }
            Err(ClientError::Locked) => {}
            Err(e) => return Err(e),
        }
        if Instant::now() > deadline {
            return Err(busy());
        }
        std::thread::sleep(RETRY);
    }
}

/// The error of a profile that stayed busy.
pub(super) fn busy() -> ClientError {
    ClientError::Timeout("the profile stayed busy for 30 s; is another dxos stuck?".into())
}
