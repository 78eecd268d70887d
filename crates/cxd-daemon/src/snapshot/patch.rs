//! A tree rebuilt with some paths set or removed, without an index: the trees on the changed
//! paths are read with the long-lived `cat-file --batch`, edited here, and written as loose
//! objects; every other tree is shared with the base. The HEAD-move path (`moved`) builds
//! its snapshots so, on top of the new HEAD's tree.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::loose::split;
use super::{Snapshotter, loose};

/// What a path becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Patch {
    /// This blob (or symlink) with this mode, whether or not the base has the path.
    Set(&'static [u8], [u8; 20]),
    /// This blob, but only where the base already has the path as a blob (tracked); left
    /// out where the base lacks it (an ignored file no one tracks).
    Tracked(&'static [u8], [u8; 20]),
    /// Gone, with everything below it (no other patch may lie below it).
    Remove,
}

/// The paths (`a/b/c`, relative to the root) and what each becomes.
pub(crate) type Patches = BTreeMap<Vec<u8>, Patch>;

/// Git's order of tree entries: by name, a tree's name as if it ended in `/`.
fn git_order(a: &loose::Entry, b: &loose::Entry) -> std::cmp::Ordering {
    let key = |e: &loose::Entry| {
        let tail: &[u8] = if e.mode == b"40000" { b"/" } else { b"" };
        (e.name.clone(), tail)
    };
    let (an, at) = key(a);
    let (bn, bt) = key(b);
    an.iter().chain(at).cmp(bn.iter().chain(bt))
}

impl Snapshotter {
    /// The tree of commit `base` with `patches` applied, written into the private object
    /// directory: `Some(tree id)`, or `None` when the result cannot be built so (a file
    /// becoming a directory or back, a `Tracked` path the base lacks, a reader out of step);
    /// then the caller takes the index path.
    pub(super) fn patch_tree(&self, base: &str, patches: &Patches) -> Option<String> {
        let patches: Vec<(&[u8], &Patch)> =
            patches.iter().map(|(k, v)| (k.as_slice(), v)).collect();
        if patches
            .iter()
            .any(|(k, _)| k.is_empty() || k.contains(&b'\n'))
        {
            return None;
        }
        // The root always: with no patches, the result is the base's own tree.
        let dirs: BTreeSet<Vec<u8>> = patches
            .iter()
            .flat_map(|(p, _)| loose::ancestors(p))
            .chain([Vec::new()])
            .collect();
        let mut request = Vec::new();
        for d in &dirs {
            request.extend_from_slice(base.as_bytes());
            if d.is_empty() {
                request.extend_from_slice(b"^{tree}");
            } else {
                request.push(b':');
                request.extend_from_slice(d);
            }
            request.push(0);
        }
        let parsed = self.with_batch(|b| b.trees_or_missing(&request, dirs.len()))?;
        let read: HashMap<&[u8], Option<&loose::Tree>> = dirs
            .iter()
            .map(Vec::as_slice)
            .zip(parsed.iter().map(Option::as_ref))
            .collect();
        // Each tree is the one its parent names; a missing one, one its parent lacks.
        for d in &dirs {
            let here = read.get(d.as_slice()).copied().flatten();
            if d.is_empty() {
                here?;
                continue;
            }
            let (parent, name) = split(d);
            let entry = read
                .get(parent)
                .copied()
                .flatten()
                .and_then(|(_, es)| es.iter().find(|e| e.name == name));
            let fits = match (here, entry) {
                (Some((oid, _)), Some(e)) => e.mode == b"40000" && e.oid == *oid,
                (None, None) => true,
                _ => false,
            };
            if !fits {
                tracing::debug!("tree patch: cat-file answers do not fit together");
                self.drop_batch();
                return None;
            }
        }
        let mut trees: HashMap<Vec<u8>, Vec<loose::Entry>> = dirs
            .iter()
            .map(|d| {
                let entries = read
                    .get(d.as_slice())
                    .copied()
                    .flatten()
                    .map(|(_, es)| es.clone())
                    .unwrap_or_default();
                (d.clone(), entries)
            })
            .collect();
        for (path, patch) in patches {
            let (dir, name) = split(path);
            let entries = trees.get_mut(dir)?;
            let at = entries.iter().position(|e| e.name == name);
            match patch {
                Patch::Remove => {
                    // Removed, yet other patches go below it: not for this path.
                    if dirs.contains(path) {
                        return None;
                    }
                    if let Some(i) = at {
                        entries.remove(i);
                    }
                }
                Patch::Set(mode, oid) | Patch::Tracked(mode, oid) => {
                    // A directory in the base, or a directory other patches go into.
                    if dirs.contains(path) {
                        return None;
                    }
                    match at {
                        Some(i) if entries[i].mode == b"40000" || entries[i].mode == b"160000" => {
                            return None;
                        }
                        Some(i) => {
                            entries[i].mode = mode.to_vec();
                            entries[i].oid = *oid;
                        }
                        None if matches!(patch, Patch::Tracked(..)) => {}
                        None => entries.push(loose::Entry {
                            mode: mode.to_vec(),
                            name: name.to_vec(),
                            oid: *oid,
                        }),
                    }
                }
            }
        }
        // Deepest first, so a parent is written after all its changed children.
        let mut order: Vec<Vec<u8>> = dirs.into_iter().collect();
        order.sort_by_key(|d| {
            std::cmp::Reverse(d.iter().filter(|&&b| b == b'/').count() + usize::from(!d.is_empty()))
        });
        for dir in order {
            let mut entries = trees.remove(&dir)?;
            if dir.is_empty() {
                entries.sort_by(git_order);
                let root =
                    loose::write_object(&self.git.objects, "tree", &loose::tree_body(&entries))
                        .ok()?;
                return Some(loose::hex(&root));
            }
            let (parent, name) = split(&dir);
            let siblings = trees.get_mut(parent)?;
            let at = siblings.iter().position(|e| e.name == name);
            if entries.is_empty() {
                // Git keeps no empty trees.
                if let Some(i) = at {
                    siblings.remove(i);
                }
                continue;
            }
            entries.sort_by(git_order);
            let oid =
                loose::write_object(&self.git.objects, "tree", &loose::tree_body(&entries)).ok()?;
            match at {
                Some(i) => siblings[i].oid = oid,
                None => siblings.push(loose::Entry {
                    mode: b"40000".to_vec(),
                    name: name.to_vec(),
                    oid,
                }),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, dir: bool) -> loose::Entry {
        loose::Entry {
            mode: if dir {
                b"40000".to_vec()
            } else {
                b"100644".to_vec()
            },
            name: name.as_bytes().to_vec(),
            oid: [0; 20],
        }
    }

    #[test]
    fn snapshot_patch_sorts_entries_as_git_does() {
        let mut es = [
            entry("a.b", false),
            entry("a", true),
            entry("a-", false),
            entry("ab", false),
            entry("a", false),
        ];
        es.sort_by(git_order);
        let names: Vec<(String, bool)> = es
            .iter()
            .map(|e| {
                (
                    String::from_utf8_lossy(&e.name).into_owned(),
                    e.mode == b"40000",
                )
            })
            .collect();
        let want = [
            ("a", false),
            ("a-", false),
            ("a.b", false),
            ("a", true),
            ("ab", false),
        ];
        let want: Vec<(String, bool)> = want.iter().map(|(n, d)| ((*n).to_owned(), *d)).collect();
        assert_eq!(names, want);
    }
}
