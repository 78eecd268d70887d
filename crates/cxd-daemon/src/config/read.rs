//! Reading a config file that may be hostile: only a bounded regular file, never a FIFO, a
//! device or a link that leads out of the repository.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::ConfigError;

/// The largest config file read; anything bigger is refused (a real one is a few hundred bytes).
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// Where a config file may lead when it is a symbolic link.
#[derive(Debug, Clone, Copy)]
pub enum Confine<'a> {
    /// The user's own file: a link may point anywhere (dotfiles are often linked).
    Anywhere,
    /// A repository's file: a link must stay inside this root.
    Within(&'a Path),
}

/// Read `path` as text: `Ok(None)` when it does not exist. A FIFO, socket or device, a file over
/// [`MAX_CONFIG_BYTES`], or (for a repository) a link leading outside the root is an error that
/// says so; nothing here can block on a special file.
pub fn read_config(path: &Path, confine: Confine<'_>) -> Result<Option<String>, ConfigError> {
    read_config_limited(path, confine, MAX_CONFIG_BYTES)
}

/// [`read_config`] with a size limit of `max` bytes instead of [`MAX_CONFIG_BYTES`].
pub fn read_config_limited(
    path: &Path,
    confine: Confine<'_>,
    max: u64,
) -> Result<Option<String>, ConfigError> {
    let refuse = |reason: String| ConfigError::Read {
        path: path.to_path_buf(),
        reason,
    };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(refuse(e.to_string())),
    };
    let target: PathBuf = if meta.file_type().is_symlink() {
        let resolved = match std::fs::canonicalize(path) {
            Ok(p) => p,
            // A dangling link is as good as no file.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(refuse(e.to_string())),
        };
        if let Confine::Within(root) = confine {
            let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
            if !resolved.starts_with(&root) {
                return Err(refuse(format!(
                    "it is a link to {}, outside the repository: a repository's config must be a file in it",
                    resolved.display()
                )));
            }
        }
        resolved
    } else {
        path.to_path_buf()
    };
    // O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW: the target was
    // resolved above, so a link swapped in meanwhile is refused rather than followed.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(&target)
        .map_err(|e| refuse(e.to_string()))?;
    let meta = file.metadata().map_err(|e| refuse(e.to_string()))?;
    if !meta.file_type().is_file() {
        return Err(refuse(
            "not a regular file (a FIFO, socket or device is never read as config)".into(),
        ));
    }
    if meta.len() > max {
        return Err(refuse(format!(
            "{} bytes, more than the {max} a config file may have",
            meta.len()
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| refuse(e.to_string()))?;
    if bytes.len() as u64 > max {
        return Err(refuse(format!(
            "more than the {max} bytes a config file may have"
        )));
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| refuse("not UTF-8 text".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_is_read_and_a_missing_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        assert_eq!(read_config(&p, Confine::Anywhere).unwrap(), None);
        std::fs::write(&p, "[review]\n").unwrap();
        assert_eq!(
            read_config(&p, Confine::Within(dir.path())).unwrap(),
            Some("[review]\n".into())
        );
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".cxd.toml");
        let status = std::process::Command::new("mkfifo")
            .arg(&p)
            .status()
            .unwrap();
        assert!(status.success());
        let err = read_config(&p, Confine::Within(dir.path())).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    #[test]
    fn devices_and_links_out_of_the_repository_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".cxd.toml");
        std::os::unix::fs::symlink("/dev/zero", &p).unwrap();
        let err = read_config(&p, Confine::Within(dir.path())).unwrap_err();
        assert!(err.to_string().contains("outside the repository"), "{err}");
        // The user's own file may be a link, but a device is still no config.
        let err = read_config(&p, Confine::Anywhere).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        // A link inside the repository is fine.
        std::fs::remove_file(&p).unwrap();
        std::fs::write(dir.path().join("real.toml"), "x = 1\n").unwrap();
        std::os::unix::fs::symlink("real.toml", &p).unwrap();
        assert_eq!(
            read_config(&p, Confine::Within(dir.path())).unwrap(),
            Some("x = 1\n".into())
        );
    }

    #[test]
    fn a_huge_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".cxd.toml");
        std::fs::write(&p, vec![b'#'; MAX_CONFIG_BYTES as usize + 1]).unwrap();
        let err = read_config(&p, Confine::Anywhere).unwrap_err();
        assert!(err.to_string().contains("more than"), "{err}");
    }
}
