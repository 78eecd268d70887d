//! The unit and the plist as a pure function of their inputs, with each value escaped for the
//! file it goes into (systemd specifiers and variables, XML entities).

use std::ffi::OsStr;
use std::path::Path;

use anyhow::bail;

use super::Manager;

const SYSTEMD_TEMPLATE: &str = include_str!("../../../../../systemd/cxd.service");
const LAUNCHD_TEMPLATE: &str = include_str!("../../../../../launchd/dev.cxd.daemon.plist");

/// What a rendered unit or plist depends on, and nothing else.
#[derive(Debug, Clone, Copy)]
pub struct RenderInputs<'a> {
    /// The absolute path of the `cxd` binary the service runs.
    pub exe: &'a Path,
    /// The PATH the daemon (and the codex it starts) sees.
    pub path: &'a OsStr,
    /// The user's home directory, the daemon's working directory under launchd.
    pub home: &'a Path,
    /// cxd's state directory, set as `CXD_STATE_DIR` so the service uses the one this client uses.
    pub state_dir: &'a Path,
}

/// The unit (systemd) or plist (launchd) for `inputs`: the same bytes for the same inputs.
pub fn render(manager: Manager, inputs: RenderInputs<'_>) -> anyhow::Result<String> {
    let field = |name: &str, value: &OsStr| -> anyhow::Result<String> {
        let Some(text) = value.to_str() else {
            bail!(
                "{name} {} is not valid UTF-8, so it cannot go into a service file; \
                 install cxd under a UTF-8 path",
                value.to_string_lossy()
            );
        };
        if let Some(c) = text.chars().find(|c| c.is_control()) {
            bail!(
                "{name} {text:?} holds the control character {c:?}, which a service file cannot \
                 hold; fix {name} and run `cxd service install` again"
            );
        }
        Ok(text.to_owned())
    };
    if !inputs.exe.is_absolute() {
        bail!(
            "the cxd binary's path {} is not absolute",
            inputs.exe.display()
        );
    }
    let exe = field("the cxd binary's path", inputs.exe.as_os_str())?;
    let path = field("PATH", inputs.path)?;
    let home = field("the home directory", inputs.home.as_os_str())?;
    let state = field("the state directory", inputs.state_dir.as_os_str())?;
    let text = match manager {
        Manager::Systemd => SYSTEMD_TEMPLATE
            .replace("{{EXE}}", &systemd_quoted(&exe, true))
            .replace("{{PATH}}", &systemd_quoted(&path, false))
            .replace("{{HOME}}", &systemd_quoted(&home, false))
            .replace("{{STATE_DIR}}", &systemd_quoted(&state, false)),
        Manager::Launchd => LAUNCHD_TEMPLATE
            .replace("{{EXE}}", &xml_escaped(&exe))
            .replace("{{PATH}}", &xml_escaped(&path))
            .replace("{{HOME}}", &xml_escaped(&home))
            .replace("{{STATE_DIR}}", &xml_escaped(&state)),
    };
    Ok(text)
}

/// Escape for the inside of a double-quoted systemd value: `%` specifiers, C escapes, and in
/// command lines `$` variable expansion.
fn systemd_quoted(s: &str, command_line: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' if command_line => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out
}

fn xml_escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn inputs<'a>(path: &'a str) -> RenderInputs<'a> {
        RenderInputs {
            exe: Path::new("/opt/cxd tools/bin/cxd"),
            path: OsStr::new(path),
            home: Path::new("/home/ann"),
            state_dir: Path::new("/home/ann/.local/state/cxd"),
        }
    }

    #[test]
    fn the_unit_is_a_pure_function_of_its_inputs() {
        let unit = render(Manager::Systemd, inputs("/usr/local/bin:/usr/bin:/bin")).unwrap();
        let again = render(Manager::Systemd, inputs("/usr/local/bin:/usr/bin:/bin")).unwrap();
        assert_eq!(unit, again);
        assert!(!unit.contains("{{"), "{unit}");
        let service: Vec<&str> = unit
            .lines()
            .skip_while(|l| *l != "[Service]")
            .filter(|l| !l.starts_with('#'))
            .take_while(|l| !l.is_empty())
            .collect();
        assert_eq!(
            service,
            [
                "[Service]",
                "Type=notify",
                "ExecStart=\"/opt/cxd tools/bin/cxd\" daemon",
                "Environment=\"PATH=/usr/local/bin:/usr/bin:/bin\"",
                "Environment=\"CXD_STATE_DIR=/home/ann/.local/state/cxd\"",
                "Restart=on-failure",
                "RestartSec=2",
                "KillMode=mixed",
                "TimeoutStopSec=20",
            ]
        );
        for line in [
            "StartLimitIntervalSec=60",
            "StartLimitBurst=5",
            "WantedBy=default.target",
        ] {
            assert!(unit.lines().any(|l| l == line), "{line} missing:\n{unit}");
        }
    }

    #[test]
    fn the_unit_escapes_specifiers_quotes_and_variables() {
        let mut i = inputs("/a%b:/c\"d\\e:/f$g");
        let exe = PathBuf::from("/x/$HOME%n/cxd");
        i.exe = &exe;
        let unit = render(Manager::Systemd, i).unwrap();
        assert!(
            unit.contains("ExecStart=\"/x/$$HOME%%n/cxd\" daemon\n"),
            "{unit}"
        );
        assert!(
            unit.contains("Environment=\"PATH=/a%%b:/c\\\"d\\\\e:/f$g\"\n"),
            "{unit}"
        );
    }

    #[test]
    fn the_plist_is_a_pure_function_of_its_inputs() {
        let plist = render(Manager::Launchd, inputs("/opt/homebrew/bin:/usr/bin&x")).unwrap();
        assert_eq!(
            plist,
            render(Manager::Launchd, inputs("/opt/homebrew/bin:/usr/bin&x")).unwrap()
        );
        assert!(!plist.contains("{{"), "{plist}");
        for needle in [
            "<key>Label</key>\n\t<string>dev.cxd.daemon</string>",
            "<array>\n\t\t<string>/opt/cxd tools/bin/cxd</string>\n\t\t<string>daemon</string>\n\t</array>",
            "<key>RunAtLoad</key>\n\t<true/>",
            "<key>SuccessfulExit</key>\n\t\t<false/>",
            "<key>PATH</key>\n\t\t<string>/opt/homebrew/bin:/usr/bin&amp;x</string>",
            "<key>WorkingDirectory</key>\n\t<string>/home/ann</string>",
            "<string>/home/ann/.local/state/cxd/launchd.stderr.log</string>",
        ] {
            assert!(plist.contains(needle), "{needle} missing:\n{plist}");
        }
    }

    #[test]
    fn bad_inputs_are_refused_with_the_reason() {
        let err = render(Manager::Systemd, inputs("/bin\n/evil")).unwrap_err();
        assert!(err.to_string().contains("PATH"), "{err}");
        let mut i = inputs("/bin");
        i.exe = Path::new("cxd");
        let err = render(Manager::Launchd, i).unwrap_err();
        assert!(err.to_string().contains("not absolute"), "{err}");
    }
}
