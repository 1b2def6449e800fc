//! What a supervisor tells about its children: `which_children`,
//! `count_children`, and a printable tree of the whole subtree.

use std::fmt;

use actix::prelude::*;

use crate::{ChildKind, Restart};

/// The state of one child slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildStatus {
    Running,
    /// Waiting out its restart backoff.
    Restarting,
    /// Not running and not going to be restarted (a transient child that exited normally).
    Stopped,
}

impl fmt::Display for ChildStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChildStatus::Running => "running",
            ChildStatus::Restarting => "restarting",
            ChildStatus::Stopped => "stopped",
        })
    }
}

/// One row of `which_children`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildInfo {
    pub id: String,
    pub kind: ChildKind,
    pub restart: Restart,
    pub status: ChildStatus,
    /// The pid number of the running incarnation.
    pub pid: Option<u64>,
    /// Restarts of this child since the supervisor started.
    pub restarts: u32,
}

/// OTP's count_children.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChildCounts {
    pub specs: usize,
    pub active: usize,
    pub supervisors: usize,
    pub workers: usize,
}

/// The children of a supervisor, in start order.
#[derive(Message)]
#[rtype(result = "Vec<ChildInfo>")]
pub struct WhichChildren;

/// OTP's count_children.
#[derive(Message)]
#[rtype(result = "ChildCounts")]
pub struct CountChildren;

/// A description of the whole subtree.
#[derive(Message)]
#[rtype(result = "TreeNode")]
pub struct DescribeTree;

/// One node of a printable supervision tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeNode {
    pub name: String,
    pub detail: String,
    pub children: Vec<TreeNode>,
}

impl TreeNode {
    fn render(
        &self,
        f: &mut fmt::Formatter<'_>,
        prefix: &str,
        last: bool,
        root: bool,
    ) -> fmt::Result {
        if root {
            writeln!(f, "{} {}", self.name, self.detail)?;
        } else {
            let branch = if last { "└── " } else { "├── " };
            writeln!(f, "{prefix}{branch}{} {}", self.name, self.detail)?;
        }
        let child_prefix = if root {
            String::new()
        } else {
            format!("{prefix}{}", if last { "    " } else { "│   " })
        };
        let n = self.children.len();
        for (i, c) in self.children.iter().enumerate() {
            c.render(f, &child_prefix, i + 1 == n, false)?;
        }
        Ok(())
    }
}

impl fmt::Display for TreeNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render(f, "", true, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_tree_with_branches() {
        let leaf = |n: &str| TreeNode {
            name: n.into(),
            detail: "(worker)".into(),
            children: vec![],
        };
        let t = TreeNode {
            name: "member".into(),
            detail: "[rest_for_one]".into(),
            children: vec![
                leaf("store"),
                TreeNode {
                    name: "transport".into(),
                    detail: "[one_for_one]".into(),
                    children: vec![leaf("listener"), leaf("peer-1")],
                },
            ],
        };
        let s = t.to_string();
        assert_eq!(
            s,
            "member [rest_for_one]\n├── store (worker)\n└── transport [one_for_one]\n    ├── listener (worker)\n    └── peer-1 (worker)\n"
        );
    }
}
