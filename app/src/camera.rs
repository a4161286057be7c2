//! Scanning an invitation's QR code with the webcam. Frames come from a [`FrameSource`]: on
//! Linux, V4L2 through the pure-Rust `linuxvideo` crate ([`open_camera`]); elsewhere there is
//! no backend and the app says so. [`scan`] reads frames until one holds a `dxos:` code, so the
//! same loop runs on made-up frames in tests.

use std::time::{Duration, Instant};

use crate::qr::{self, Luma};

/// Why the camera could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CameraError {
    /// No camera was found (or this platform has no camera backend).
    #[error("no camera found: {0}")]
    NoCamera(String),
    /// The camera exists but may not be opened.
    #[error("no permission to use the camera ({0}); on Linux, add yourself to the \"video\" group")]
    Permission(String),
    /// The camera gives frames in no format we read.
    #[error("the camera's picture formats are not supported: {0}")]
    Unsupported(String),
    /// Reading frames failed.
    #[error("the camera stopped: {0}")]
    Io(String),
    /// No invitation was seen in time.
    #[error("no DXOS invitation code seen in {0} s; hold the code steady, closer, in good light")]
    NothingSeen(u64),
    /// Stopped by the user.
    #[error("scanning stopped")]
    Stopped,
}

/// Something that gives greyscale frames: a camera, or made-up frames in tests.
pub trait FrameSource {
    /// The next frame (blocking until there is one).
    fn next_frame(&mut self) -> Result<Luma, CameraError>;
}

/// Reads frames from `source` until one shows a QR code whose text is a `dxos:` invitation
/// (other QR codes are skipped), for at most `max`, or until `stop` says so.
pub fn scan(source: &mut dyn FrameSource, max: Duration, stop: &dyn Fn() -> bool) -> Result<String, CameraError> {
    let start = Instant::now();
    while start.elapsed() < max {
        if stop() {
            return Err(CameraError::Stopped);
        }
        let frame = source.next_frame()?;
        if let Ok(text) = qr::decode(&frame)
            && text.trim().get(..5).is_some_and(|s| s.eq_ignore_ascii_case("dxos:"))
        {
            return Ok(text.trim().to_owned());
        }
    }
    Err(CameraError::NothingSeen(max.as_secs()))
}

/// The luma of a YUYV (YUY2) frame: every other byte.
pub fn yuyv_to_luma(width: usize, height: usize, bytes_per_line: usize, data: &[u8]) -> Result<Luma, CameraError> {
    let line = bytes_per_line.max(width * 2);
    if data.len() < line * height.saturating_sub(1) + width * 2 {
        return Err(CameraError::Io(format!("a short frame ({} bytes)", data.len())));
    }
    let mut pixels = Vec::with_capacity(width * height);
    for y in 0..height {
        let row = &data[y * line..y * line + width * 2];
        pixels.extend(row.iter().step_by(2));
    }
    Ok(Luma { width, height, pixels })
}

/// Opens the first camera that gives frames we can read.
#[cfg(target_os = "linux")]
pub fn open_camera() -> Result<Box<dyn FrameSource + Send>, CameraError> {
    linux::LinuxCamera::open_first().map(|c| Box::new(c) as Box<dyn FrameSource + Send>)
}

/// There is no camera backend on this platform.
#[cfg(not(target_os = "linux"))]
pub fn open_camera() -> Result<Box<dyn FrameSource + Send>, CameraError> {
    Err(CameraError::NoCamera(
        "this build has no camera support on this platform; open a picture or paste the text".into(),
    ))
}

#[cfg(target_os = "linux")]
mod linux {
    use linuxvideo::format::{PixFormat, PixelFormat};
    use linuxvideo::stream::ReadStream;
    use linuxvideo::{BufType, Device};

    use super::{CameraError, FrameSource, yuyv_to_luma};
    use crate::qr::{self, Luma};

    /// A V4L2 capture device streaming YUYV or (M)JPEG frames.
    pub struct LinuxCamera {
        stream: ReadStream,
        width: usize,
        height: usize,
        bytes_per_line: usize,
        format: PixelFormat,
    }

    fn io_error(e: std::io::Error) -> CameraError {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            CameraError::Permission(e.to_string())
        } else {
            CameraError::Io(e.to_string())
        }
    }

    impl LinuxCamera {
        /// The first `/dev/video*` device that captures in a format we read.
        pub fn open_first() -> Result<Self, CameraError> {
            let mut reasons = Vec::new();
            let devices = linuxvideo::list().map_err(|e| CameraError::NoCamera(e.to_string()))?;
            for device in devices {
                match device.map_err(io_error).and_then(Self::open) {
                    Ok(c) => return Ok(c),
                    Err(e @ CameraError::Permission(_)) => return Err(e),
                    Err(e) => reasons.push(e.to_string()),
                }
            }
            Err(if reasons.is_empty() {
                CameraError::NoCamera("no video devices".into())
            } else {
                CameraError::NoCamera(reasons.join("; "))
            })
        }

        fn open(device: Device) -> Result<Self, CameraError> {
            let formats: Vec<PixelFormat> =
                device.formats(BufType::VIDEO_CAPTURE).filter_map(Result::ok).map(|f| f.pixel_format()).collect();
            let format = [PixelFormat::YUYV, PixelFormat::MJPG, PixelFormat::JPEG]
                .into_iter()
                .find(|f| formats.contains(f))
                .ok_or_else(|| CameraError::Unsupported(format!("{formats:?}")))?;
            let capture = device.video_capture(PixFormat::new(1280, 720, format)).map_err(io_error)?;
            let f = capture.format();
            let (width, height, bytes_per_line) =
                (f.width() as usize, f.height() as usize, f.bytes_per_line() as usize);
            let stream = capture.into_stream().map_err(io_error)?;
            Ok(Self { stream, width, height, bytes_per_line, format })
        }
    }

    impl FrameSource for LinuxCamera {
        fn next_frame(&mut self) -> Result<Luma, CameraError> {
            let (w, h, bpl, format) = (self.width, self.height, self.bytes_per_line, self.format);
            self.stream
                .dequeue(|buf| {
                    let frame = if format == PixelFormat::YUYV {
                        yuyv_to_luma(w, h, bpl, &buf)
                    } else {
                        qr::load(&buf).map_err(|e| CameraError::Io(e.to_string()))
                    };
                    Ok(frame)
                })
                .map_err(io_error)?
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames as a camera would give them: YUYV, with noise before the code shows.
    struct Fake {
        frames: Vec<Vec<u8>>,
        width: usize,
        height: usize,
        next: usize,
    }

    fn to_yuyv(img: &Luma) -> Vec<u8> {
        img.pixels.iter().flat_map(|&y| [y, 128]).collect()
    }

    impl FrameSource for Fake {
        fn next_frame(&mut self) -> Result<Luma, CameraError> {
            let f = self.frames.get(self.next.min(self.frames.len() - 1)).cloned().unwrap_or_default();
            self.next += 1;
            yuyv_to_luma(self.width, self.height, self.width * 2, &f)
        }
    }

    const URI: &str = "DXOS:AEAA45E4ZYYAA6AICXRXTXXQFAMMPQB7AIOVVRYTO3PAZNKMNLTKXFZRWJRO4OCUSY5PBWXS4CYY4R3SGFESSSL7Z";

    #[test]
    fn a_code_shown_after_noise_and_another_qr_is_read() {
        let code = qr::luma(URI, 4).unwrap_or_else(|e| panic!("{e}"));
        let other = qr::luma("https://example.com/not-an-invitation", 4).unwrap_or_else(|e| panic!("{e}"));
        let (w, h) = (code.width.max(other.width), code.height.max(other.height));
        let pad = |img: &Luma| -> Luma {
            let mut pixels = vec![255u8; w * h];
            for y in 0..img.height {
                pixels[y * w..y * w + img.width].copy_from_slice(&img.pixels[y * img.width..(y + 1) * img.width]);
            }
            Luma { width: w, height: h, pixels }
        };
        let noise = Luma { width: w, height: h, pixels: (0..w * h).map(|i| (i * 7919 % 251) as u8).collect() };
        let mut fake = Fake {
            frames: vec![to_yuyv(&noise), to_yuyv(&pad(&other)), to_yuyv(&pad(&code))],
            width: w,
            height: h,
            next: 0,
        };
        assert_eq!(scan(&mut fake, Duration::from_secs(10), &|| false).as_deref(), Ok(URI));
        assert_eq!(fake.next, 3);
    }

    #[test]
    fn no_code_times_out_and_stop_stops() {
        let blank = Luma { width: 64, height: 48, pixels: vec![200; 64 * 48] };
        let mut fake = Fake { frames: vec![to_yuyv(&blank)], width: 64, height: 48, next: 0 };
        assert_eq!(scan(&mut fake, Duration::from_millis(200), &|| false), Err(CameraError::NothingSeen(0)));
        assert_eq!(scan(&mut fake, Duration::from_secs(10), &|| true), Err(CameraError::Stopped));
        assert!(matches!(yuyv_to_luma(64, 48, 128, &[0; 10]), Err(CameraError::Io(_))));
    }

    #[test]
    fn opening_a_camera_never_panics() {
        // CI has no camera: a clear error; a machine with one gets a source.
        if let Err(e) = open_camera() {
            assert!(!e.to_string().is_empty());
        }
    }
}
