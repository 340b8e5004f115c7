//! The analyzers a sweep must tell apart, as the organization seeds them: statuses other than
//! `ACTIVE`, and the names of service-linked analyzers. Each (account, region)'s emulator keeps
//! the status, its reason and the managing service, reports them on the wire as the service
//! model's `AnalyzerSummary` has them (`status`, `statusReason`, `managedBy`), and refuses calls
//! naming a service-linked analyzer.

/// An analyzer's `status`, as `AnalyzerSummary` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnalyzerStatus {
    Active,
    Creating,
    Disabled,
    Failed,
}

impl AnalyzerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AnalyzerStatus::Active => "ACTIVE",
            AnalyzerStatus::Creating => "CREATING",
            AnalyzerStatus::Disabled => "DISABLED",
            AnalyzerStatus::Failed => "FAILED",
        }
    }
}

/// The name a service-linked analyzer gets: `_AccessAnalyzerFor{ServiceName}-{Id}`, as the SDK's
/// documentation of `DeleteServiceLinkedAnalyzer` gives the format (`Id` is generated).
pub(crate) fn service_linked_name(service_name: &str, id: u64) -> String {
    format!("_AccessAnalyzerFor{service_name}-{id:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_linked_names_follow_the_documented_format() {
        assert_eq!(
            service_linked_name("SecurityHubV2", 26),
            "_AccessAnalyzerForSecurityHubV2-0000001a"
        );
    }
}
