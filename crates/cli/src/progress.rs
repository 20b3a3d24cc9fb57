//! The progress bar long reads show on stderr when it is a terminal.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A row-counting spinner labelled `label` when stderr is a terminal; `None` otherwise.
pub fn bar(label: &str) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new_spinner();
    // The template is a literal known to be valid.
    let style = ProgressStyle::with_template("{spinner} {msg} {human_pos} rows ({per_sec})")
        .expect("valid progress template");
    bar.set_style(style);
    bar.set_message(label.to_string());
    Some(bar)
}
