//! A command's side of the socket: one request line out, reply lines in; with no owner, the
//! store opened for the one command.

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

pub(super) fn write_request(stream: &mut UnixStream, req: &Request) -> bool {
    match serde_json::to_string(req) {
        Ok(mut line) => {
            line.push('\n');
            stream.write_all(line.as_bytes()).is_ok()
        }
        Err(_) => false,
    }
}

pub(super) fn call_over(mut stream: UnixStream, req: &Request) -> Talk<Result<Value, CmdError>> {
    if !write_request(&mut stream, req) {
        return Talk::Retry;
    }
    let mut line = String::new();
    match BufReader::new(stream).read_line(&mut line) {
        Ok(n) if n > 0 => match serde_json::from_str::<Reply>(&line) {
            Ok(Reply::Ok(v)) => Talk::Done(Ok(v)),
            Ok(Reply::Err(e)) => Talk::Done(Err(e)),
            Err(e) => Talk::Done(Err(CmdError::new(Kind::Internal, format!("bad reply from the owner: {e}")))),
        },
        _ => Talk::Retry,
    }
}

/// Runs one short command: through the owner's socket, or, with no owner, on the store
/// directly (waiting while another process holds it).
pub fn call(profile: &Profile, req: &Request) -> Result<Value, CmdError> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        if let Some(stream) = connect(profile)
            && let Talk::Done(r) = call_over(stream, req)
        {
            return r;
        }
        match Client::open(profile) {
            Ok(client) => {
                let result = client.execute(req);
                let flushed = client.flush();
                return result.and_then(|v| flushed.map(|_| v));
            }
            Err(OpenError::Locked) => {}
            Err(OpenError::Other(e)) => return Err(CmdError::new(Kind::Io, e)),
        }
        if Instant::now() > deadline {
            return Err(CmdError::new(Kind::Timeout, "the profile stayed busy for 30 s; is another dxos stuck?"));
        }
        std::thread::sleep(RETRY);
    }
}
