//! Living on a desktop: the menu entry, icons and `dxos:` link handler ([`install`]), the
//! checks on a link before anything opens it ([`link`]), the window's icon ([`icon`]), crash
//! reports ([`crash`]) and the log file that rotates ([`logfile`]).

pub mod crash;
pub mod icon;
pub mod install;
pub mod link;
pub mod logfile;

/// The app's id: the Wayland app id (and X11 class) of its window, and the name of its menu
/// entry and icon, which a desktop matches to the window by this id.
pub const APP_ID: &str = "org.dxos.Dxos";
