//! EC2 `DescribeRegions` in the ec2Query protocol of `ec2/2016-11-15`: a form-encoded POST in,
//! XML out, with the regions of the calling account.

use axum::{body::Bytes, http::StatusCode};
use serde_json::{Map, Value};

use super::{
    http::{api_error, form, xml_escape, Parsed},
    Org, DEFAULT_REGIONS, OPT_IN_REGIONS,
};
use crate::access_analyzer::wire::ApiError;

const XML_NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

pub(crate) fn parse(body: &Bytes) -> Parsed {
    let mut params = form(body);
    let action = params
        .remove("Action")
        .and_then(|action| action.as_str().map(str::to_owned));
    params.remove("Version");
    match action.as_deref() {
        Some("DescribeRegions") => Parsed::new("DescribeRegions", params),
        other => {
            let name = other.unwrap_or("Unknown");
            let error = invalid_parameter(
                "InvalidAction",
                format!("The action {name} is not valid for this web service."),
            );
            Parsed::invalid(name, params, error)
        }
    }
}

fn invalid_parameter(code: &'static str, message: String) -> ApiError {
    api_error(StatusCode::BAD_REQUEST, code, message)
}

/// A region as the account sees it.
struct RegionInfo {
    name: String,
    opt_in_status: &'static str,
}

impl RegionInfo {
    fn endpoint(&self) -> String {
        format!("ec2.{}.amazonaws.com", self.name)
    }

    fn enabled(&self) -> bool {
        self.opt_in_status != "not-opted-in"
    }
}

/// Every region the account could see: the defaults, its opt-ins, the rest not opted in.
fn regions(org: &Org, account: &str) -> Vec<RegionInfo> {
    let opted_in: Vec<String> = org
        .spec
        .account(account)
        .map(|account| account.opt_in_regions.clone())
        .unwrap_or_default();
    let defaults = DEFAULT_REGIONS.iter().map(|name| RegionInfo {
        name: (*name).to_owned(),
        opt_in_status: "opt-in-not-required",
    });
    let opted = opted_in.iter().map(|name| RegionInfo {
        name: name.clone(),
        opt_in_status: "opted-in",
    });
    let not_opted = OPT_IN_REGIONS
        .iter()
        .filter(|name| !opted_in.iter().any(|opted| opted == *name))
        .map(|name| RegionInfo {
            name: (*name).to_owned(),
            opt_in_status: "not-opted-in",
        });
    defaults.chain(opted).chain(not_opted).collect()
}

/// `Prefix.1`, `Prefix.2`, … until one is missing, as the ec2Query protocol flattens lists.
fn list(params: &Map<String, Value>, prefix: &str) -> Vec<String> {
    (1..)
        .map_while(|index| {
            params
                .get(&format!("{prefix}.{index}"))?
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

fn is_true(params: &Map<String, Value>, name: &str) -> bool {
    params
        .get(name)
        .and_then(Value::as_str)
        .is_some_and(|value| value.eq_ignore_ascii_case("true"))
}

pub(crate) fn describe_regions(
    org: &Org,
    account: &str,
    params: &Map<String, Value>,
    request_id: &str,
) -> Result<String, ApiError> {
    let names = list(params, "RegionName");
    let mut selected: Vec<RegionInfo> = regions(org, account)
        .into_iter()
        .filter(|region| {
            if names.is_empty() {
                region.enabled() || is_true(params, "AllRegions")
            } else {
                names.contains(&region.name)
            }
        })
        .collect();
    if let Some(unknown) = names
        .iter()
        .find(|name| !selected.iter().any(|region| &region.name == *name))
    {
        return Err(invalid_parameter(
            "InvalidParameterValue",
            format!("Invalid region: {unknown}"),
        ));
    }
    for index in 1.. {
        let Some(filter) = params
            .get(&format!("Filter.{index}.Name"))
            .and_then(Value::as_str)
        else {
            break;
        };
        let values = list(params, &format!("Filter.{index}.Value"));
        let attribute = |region: &RegionInfo| match filter {
            "region-name" => Some(region.name.clone()),
            "opt-in-status" => Some(region.opt_in_status.to_owned()),
            "endpoint" => Some(region.endpoint()),
            _ => None,
        };
        if selected
            .first()
            .is_some_and(|region| attribute(region).is_none())
        {
            return Err(invalid_parameter(
                "InvalidParameterValue",
                format!("The filter '{filter}' is invalid"),
            ));
        }
        selected.retain(|region| attribute(region).is_some_and(|value| values.contains(&value)));
    }
    let items: String = selected
        .iter()
        .map(|region| {
            format!(
                "<item><regionName>{}</regionName><regionEndpoint>{}</regionEndpoint>\
                 <optInStatus>{}</optInStatus></item>",
                xml_escape(&region.name),
                xml_escape(&region.endpoint()),
                region.opt_in_status
            )
        })
        .collect();
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeRegionsResponse \
         xmlns=\"{XML_NAMESPACE}\"><requestId>{request_id}</requestId>\
         <regionInfo>{items}</regionInfo></DescribeRegionsResponse>"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattened_lists_stop_at_the_first_gap() {
        let params = form(&Bytes::from_static(
            b"RegionName.1=eu-west-1&RegionName.2=eu-south-1&RegionName.4=us-east-1",
        ));
        assert_eq!(list(&params, "RegionName"), ["eu-west-1", "eu-south-1"]);
    }
}
