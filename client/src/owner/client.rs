//! A caller's side of the socket: one request line out, reply lines in; with no owner, the
//! store opened for the one call.

use super::*;

/// Outcome of talking to an owner.
pub(super) enum Talk<T> {
    Done(T),
    /// The request did not reach the owner (it was going away): try again.
    Retry,
    /// The request reached the owner, which went away before answering: it may or may not
    /// have been carried out.
    Unanswered,
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
        None => Talk::Unanswered,
    }
}

/// Answers one call that is not a stream: through the owner's socket, or, with no owner, on
/// the store directly (waiting while another process holds it). If the owner dies after
/// taking a request that changes something and before answering it, the call fails saying
/// so rather than making the change a second time.
pub fn call(profile: &Profile, req: &Request) -> Result<Response> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        if let Some(stream) = connect(profile) {
            match call_over(stream, req) {
                Talk::Done(r) => return r,
                Talk::Unanswered if !req.is_read_only() => return Err(unanswered()),
                Talk::Unanswered | Talk::Retry => {}
            }
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

/// The error of a change the owner took and died before answering.
pub(super) fn unanswered() -> ClientError {
    let e = std::io::Error::new(ErrorKind::ConnectionAborted, "the owner closed the socket before answering");
    ClientError::io(
        "the profile's owner stopped before answering: the change may or may not have been made; look before trying again",
        e,
    )
}

/// The error of a profile that stayed busy.
pub(super) fn busy() -> ClientError {
    ClientError::Timeout("the profile stayed busy for 30 s; is another dxos stuck?".into())
}
