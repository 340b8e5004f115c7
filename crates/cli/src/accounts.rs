//! Which accounts a sweep visits: those listed, those under OUs (child OUs included), every active
//! account of the Organization, or the caller's own. Read-only Organizations calls; nothing else.

use aws_sdk_organizations::types::{AccountState, AccountStatus};

use crate::aws::{describe_error, Session};
use crate::{CliError, SweepArgs};

/// The accounts to sweep: the listed ones, the active accounts under the OUs (child OUs included),
/// every active account, or the caller's own.
pub async fn select(session: &Session, args: &SweepArgs) -> Result<Vec<String>, CliError> {
    let selection = &args.accounts;
    if !selection.accounts.is_empty() {
        for id in &selection.accounts {
            if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(CliError::Usage(format!(
                    "--accounts: {id:?} is not a 12-digit account id"
                )));
            }
        }
        return Ok(selection.accounts.clone());
    }
    if selection.ou.is_empty() && !selection.all_accounts {
        return Ok(vec![session.account.clone()]);
    }
    let org = aws_sdk_organizations::Client::new(&session.config);
    let failed = |what: &str, (_, message): (Option<String>, String)| {
        CliError::Failed(format!("organizations:{what}: {message} (run sweep from the management or delegated-administrator account)"))
    };
    let mut accounts = Vec::new();
    if selection.all_accounts {
        let mut pages = org.list_accounts().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| failed("ListAccounts", describe_error(&e)))?;
            accounts.extend(
                page.accounts()
                    .iter()
                    .filter(|a| is_active(a))
                    .filter_map(|a| a.id().map(str::to_owned)),
            );
        }
    } else {
        let mut parents = selection.ou.clone();
        while let Some(parent) = parents.pop() {
            let mut pages = org
                .list_accounts_for_parent()
                .parent_id(&parent)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| failed("ListAccountsForParent", describe_error(&e)))?;
                accounts.extend(
                    page.accounts()
                        .iter()
                        .filter(|a| is_active(a))
                        .filter_map(|a| a.id().map(str::to_owned)),
                );
            }
            let mut pages = org
                .list_organizational_units_for_parent()
                .parent_id(&parent)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page
                    .map_err(|e| failed("ListOrganizationalUnitsForParent", describe_error(&e)))?;
                parents.extend(
                    page.organizational_units()
                        .iter()
                        .filter_map(|ou| ou.id().map(str::to_owned)),
                );
            }
        }
    }
    accounts.sort();
    accounts.dedup();
    Ok(accounts)
}

/// `State` is the current field; older responses carry only the deprecated `Status`.
#[allow(deprecated)]
fn is_active(account: &aws_sdk_organizations::types::Account) -> bool {
    match account.state() {
        Some(state) => *state == AccountState::Active,
        None => account.status() == Some(&AccountStatus::Active),
    }
}
